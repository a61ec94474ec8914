"""The gate's read-only probes of one node sent as ONE exec (issue 12 item 1), and its reply parsed.

Each probe stays the RemoteCommand its builder makes (commands.py, setup_commands.py); what
changes is the transport. `batch` packs the probes' argv words as positional arguments of one
constant bash script (`bash -c PROBE_SCRIPT barctl-probe INPUT NAME COUNT WORD...`, every word
quoted by `commands.render`), so no node value is ever spliced into script text. Each probe's
words come bounded by its own coreutils `timeout` (`commands.bounded`, as `render` bounds a
command of its own), and the script prints one line per probe: `S NAME BASE64(stdout) EXIT
BASE64(stderr)`. Base64 has no space or newline, so no byte of a local.conf, a crm_mon XML
or a hostile tool's output can forge another section.

A probe that runs into its limit (timeout's 124, or 137 once killed) stops the script: the
probes after it print `S NAME stopped` and fail without running, so a hung node costs one
probe's limit, as it did when each probe was its own exec, not the sum of every limit.

A NAME starting with `?` runs only when the probe before it exited 0 (crm_mon only after
`crm_node -n` answered); a skipped probe prints `S NAME skipped`. INPUT is `none` (each probe
reads /dev/null) or `each`: the script reads its stdin once into a shell variable and pipes it
to every probe with the builtin printf: the MySQL option file never reaches argv or a file.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from barctl.model import CommandResult
from barctl.run import commands_probe, commands_rear, commands_services, gate_setup
from barctl.run.commands import KILL_AFTER_SECONDS, RemoteCommand, bounded
from barctl.run.rear_config import RearTarget

PROBE_NAME = "gate_probe"
DATABASE_PROBE_NAME = "gate_database_probe"
SKIPPED = "skipped"
STOPPED = "stopped"
NOT_RUN_AFTER_TIMEOUT = "not run: an earlier probe of this node ran into its time limit"

# fd 3 is the channel: each probe's stdout streams through base64 straight into it, while its
# stderr (and, after a newline, its exit status) is captured to be encoded after it ended.
PROBE_SCRIPT = r"""exec 3>&1
input=$1; shift
if [ "$input" = each ]; then given=$(cat; printf x); given=${given%x}; fi
last=0 stop=0
while [ "$#" -ge 2 ]; do
  name=$1 count=$2; shift 2
  words=("${@:1:$count}"); shift "$count"
  case $name in
    \?*) name=${name#\?}
      if [ "$last" != 0 ]; then printf 'S %s skipped\n' "$name"; continue; fi ;;
  esac
  if [ "$stop" = 1 ]; then printf 'S %s stopped\n' "$name"; continue; fi
  printf 'S %s ' "$name"
  err=$( {
    if [ "$input" = each ]; then
      printf %s "$given" | "${words[@]}"
    else
      "${words[@]}" </dev/null
    fi | base64 -w0 >&3
    printf '\n%s' "${PIPESTATUS[0]}" >&2
  } 2>&1 )
  last=${err##*$'\n'}
  err=${err%$'\n'*}
  printf ' %s %s\n' "$last" "$(printf %s "$err" | base64 -w0)"
  case $last in 124|137) stop=1 ;; esac
done
"""


def batch(name: str, probes: Sequence[RemoteCommand], stdin: str | None = None) -> RemoteCommand:
    """One read-only exec running `probes` in order; `conditional` names run only after an exit 0
    of the probe before them (see `conditional`). With `stdin`, every probe reads it."""
    words: list[str] = []
    for probe in probes:
        if probe.changes_state or probe.stdout_path or probe.stdout_filter or probe.private:
            raise ValueError(f"{probe.name} cannot run inside the gate's probe script")
        argv = bounded(probe.argv, probe.timeout_seconds)
        words += [probe.name, str(len(argv)), *argv]
    mode = "none" if stdin is None else "each"
    argv = ("bash", "-c", PROBE_SCRIPT, "barctl-probe", mode, *words)
    # The outer limit covers every probe running into its own limit and kill grace.
    total = sum(probe.timeout_seconds + KILL_AFTER_SECONDS for probe in probes)
    return RemoteCommand(name, argv, max(total, 1), stdin=stdin)


def conditional(probe: RemoteCommand) -> RemoteCommand:
    """`probe` run only when the probe before it in the batch exited 0."""
    return RemoteCommand(f"?{probe.name}", probe.argv, probe.timeout_seconds, stdin=probe.stdin)


def _decode(field: str) -> str:
    return base64.b64decode(field, validate=True).decode("utf-8", "replace")


def _section(line: str) -> tuple[str, CommandResult | None] | None:
    """(name, result) of one reply line; (name, None) for a skipped probe; None if malformed."""
    parts = line.split(" ")
    if len(parts) == 3 and parts[0] == "S" and parts[2] == SKIPPED:
        return parts[1], None
    if len(parts) == 3 and parts[0] == "S" and parts[2] == STOPPED:
        return parts[1], CommandResult(124, "", NOT_RUN_AFTER_TIMEOUT, 0.0)
    if len(parts) != 5 or parts[0] != "S" or not parts[3].isdigit():
        return None
    try:
        return parts[1], CommandResult(int(parts[3]), _decode(parts[2]), _decode(parts[4]), 0.0)
    except (binascii.Error, ValueError):
        return None


def parse_reply(reply: CommandResult, names: Sequence[str]) -> dict[str, CommandResult]:
    """Each probe's own result out of the batch's reply, by probe name.

    A batch that never ran or lost its connection gives that same result for every probe
    (its reason refuses the node as before). A probe the reply does not carry (the script was
    killed, or a line did not parse) fails with the batch's exit code and says so.
    """
    wanted = [name.removeprefix("?") for name in names]
    if reply.reason is not None:
        return dict.fromkeys(wanted, reply)
    found: dict[str, CommandResult] = {}
    skipped: set[str] = set()
    for line in reply.stdout.splitlines():
        section = _section(line)
        if section is None or section[0] not in wanted or section[0] in found:
            break  # nothing after a line that does not parse is trusted
        name, result = section
        if result is None:
            skipped.add(name)
        else:
            found[name] = result
    code = reply.exit_code if reply.exit_code else 1
    missing = CommandResult(code, "", "the gate's probe script ended before this probe", 0.0)
    return {name: found.get(name, missing) for name in wanted if name not in skipped}


def database_queries(
    container: str, password: str, timeout: int, *, cluster: bool
) -> tuple[RemoteCommand, ...]:
    """The galera queries of the gate's second exec, each reading the option file on stdin.

    The node's own galera state always; with `cluster`, also what every member answers alike
    (the database list and the accounts: galera replicates both), which the gate asks of one
    node only (issue 12 item 1)."""
    own = (commands_services.galera_status(container, password, timeout),)
    if not cluster:
        return own
    return (
        *own,
        commands_services.database_names(container, password, timeout),
        commands_services.database_accounts(container, password, timeout),
    )


def node_probes(
    *, pacemaker: bool, timeout: int, target: RearTarget | None
) -> tuple[RemoteCommand, ...]:
    """Every read-only probe `gate_probe.probe_node` may ask of the node, in the order it asks them;
    crm_mon only after `crm_node -n` answered. hiera is read on every node: which one runs
    the database is known only from the container list of the same reply."""
    setup = gate_setup.probe_commands(target, timeout) if target else ()
    cluster_probes = (
        (
            commands_rear.config_drive_device(timeout),
            commands_probe.pacemaker_node_name(timeout),
            conditional(commands_probe.pacemaker_status(timeout)),
        )
        if pacemaker
        else ()
    )
    return (
        commands_probe.node_name(timeout),
        commands_probe.rear_version(timeout),
        commands_probe.cron_file_absent(timeout),
        commands_probe.firmware(timeout),
        *setup,
        commands_probe.container_names(timeout),
        commands_rear.list_run_directories(timeout),
        *cluster_probes,
        commands_probe.hiera_lookup(commands_probe.MYSQL_PASSWORD_KEY, timeout),
    )
