"""Command-line interface. Formats output and maps outcomes to exit codes; no logic of its own."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from barctl.console import cli_parser
from barctl.errors import BarctlError, InputError
from barctl.outcome import RunOutcome
from barctl.run.locks import LockBusyError

# Each sub-command imports what it needs when it runs (the policy models, the SSH layer, the
# scheduler), so `barctl --version` and `--help` answer at once.
if TYPE_CHECKING:
    from barctl.config.inventory import Inventory
    from barctl.config.policy import Policy
    from barctl.config.site import Site
    from barctl.model import Node
    from barctl.run.rear_config import NodeFile
    from barctl.run.resolution import Resolved
    from barctl.service.loading import Loaded

EXIT_SUCCESS = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_LOCKED = 4
EXIT_DEGRADED = 5

EXIT_BY_OUTCOME = {
    RunOutcome.SUCCESS: EXIT_SUCCESS,
    RunOutcome.FAILED: EXIT_FAILED,
    RunOutcome.INTERRUPTED: EXIT_FAILED,
    RunOutcome.REFUSED: EXIT_REFUSED,
    RunOutcome.DEGRADED: EXIT_DEGRADED,
}


def _load(arguments: argparse.Namespace) -> Loaded:
    from barctl.service.loading import load  # noqa: PLC0415 - see the imports

    return load(arguments.config, os.environ)


def _unpack(loaded: Loaded) -> tuple[Policy, Inventory, Site]:
    return loaded.policy, loaded.inventory, loaded.site


def command_validate(arguments: argparse.Namespace) -> int:
    """Exit 0 and summarise when the policy is valid."""
    loaded = _load(arguments)
    plans = ", ".join(name for name, _ in loaded.policy.plans.items())
    inventory = loaded.inventory
    print(
        f"{loaded.path}: valid; plans: {plans};"
        f" inventory {inventory.path}: {len(inventory.hosts)} hosts"
    )
    return EXIT_SUCCESS


def command_inventory(arguments: argparse.Namespace) -> int:
    """Print every plan's resolved nodes."""
    from barctl.console import json_views, report  # noqa: PLC0415 - see the imports
    from barctl.run.resolution import resolve  # noqa: PLC0415

    policy, inventory, _ = _unpack(_load(arguments))
    plans = []
    for name, section in policy.plans.items():
        resolved = resolve(policy, inventory, name)
        excluded = [host.name for host in inventory.excluded_in(list(section.groups))]
        if arguments.json:
            plans.append(json_views.inventory_plan(resolved, excluded))
        else:
            print(report.inventory_text(resolved, excluded))
    if arguments.json:
        print(json_views.render("inventory", {"plans": plans}))
    return EXIT_SUCCESS


def command_plan(arguments: argparse.Namespace) -> int:
    """Print the plan built from facts assumed from the inventory's service groups."""
    from barctl.console import json_views, report  # noqa: PLC0415 - see the imports
    from barctl.run import backup  # noqa: PLC0415 - see the imports

    policy, inventory, _ = _unpack(_load(arguments))
    resolved = backup.resolve(policy, inventory, arguments.plan)
    plan = backup.build_plan(resolved, backup.assumed_facts(resolved), "RUN_ID", "")
    if arguments.json:
        print(json_views.render("plan", json_views.plan_body(resolved, plan)))
        return EXIT_SUCCESS
    print(report.plan_text(plan, assumed=True))
    print(
        "ReaR configuration per node (local.conf is placed by `barctl setup` and checked by the"
        " gate, the per-run file by each run; firmware unknown here: USING_UEFI_BOOTLOADER left"
        " to ReaR):"
    )
    for node in resolved.nodes:
        files = _rear_files(resolved, node, "RUN_ID")
        print(_rear_text(resolved, node, files, "RUN_ID"))
    return EXIT_SUCCESS


def _rear_files(resolved: Resolved, node: Node, run_id: str) -> tuple[NodeFile, ...]:
    """The files the run writes on `node` (firmware unknown: no connection is made)."""
    return resolved.target.node_files(node.name, run_id)


def _rear_text(resolved: Resolved, node: Node, files: tuple[NodeFile, ...], run_id: str) -> str:
    from barctl.console import report  # noqa: PLC0415 - see the imports
    from barctl.run import rear_config  # noqa: PLC0415 - see the imports

    artifacts = resolved.target.artifact_paths(node.name, run_id)
    return report.rear_files_text(node.name, files, rear_config.rear_argv(), artifacts)


def command_setup(arguments: argparse.Namespace) -> int:
    """Probe every node's ReaR set-up and apply the differences (`--check`: list them only);
    `--render DIR`: write every ReaR file barctl would place on each node, connect nowhere."""
    from barctl.run import backup  # noqa: PLC0415 - see the imports

    loaded = _load(arguments)
    resolved = backup.resolve(loaded.policy, loaded.inventory, arguments.plan)
    if not arguments.render:
        from barctl.console import setup_command  # noqa: PLC0415 - see the imports

        text, code = setup_command.run(
            loaded, resolved, check=arguments.check, packages=not arguments.no_packages
        )
        print(text)
        return code
    root = Path(arguments.render)
    for node in resolved.nodes:
        files = _rear_files(resolved, node, arguments.run_id)
        for item in files:
            path = root / node.name / item.path.lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(item.content)
            path.chmod(int(item.mode, 8))
        print(_rear_text(resolved, node, files, arguments.run_id))
    return EXIT_SUCCESS


def command_precheck(arguments: argparse.Namespace) -> int:
    """Run the gate; exit 3 when it refuses."""
    from barctl.console import json_views, report  # noqa: PLC0415 - see the imports
    from barctl.history.store import existing_history  # noqa: PLC0415 - see the imports
    from barctl.run import backup, preflight  # noqa: PLC0415 - see the imports

    policy, inventory, site = _unpack(_load(arguments))
    resolved = backup.resolve(policy, inventory, arguments.plan)
    settings = preflight.ssh_settings(policy, site)
    with existing_history(site) as store:
        need = preflight.space_need(store, resolved)
    verdict = preflight.precheck(resolved, settings, policy.ssh.max_parallel, need)
    if arguments.json:
        print(json_views.render("precheck", json_views.precheck_body(arguments.plan, verdict)))
    else:
        print(report.gate_text(verdict))
    return EXIT_SUCCESS if verdict.passed else EXIT_REFUSED


def command_run(arguments: argparse.Namespace) -> int:
    """Run a plan now; SIGTERM/SIGINT stop it at the next safe point and run its undos."""
    from barctl.console import report  # noqa: PLC0415 - see the imports
    from barctl.run import backup, drill  # noqa: PLC0415 - see the imports

    policy, inventory, site = _unpack(_load(arguments))
    abort = threading.Event()
    with abort_on_signals(abort):
        request = backup.Request(
            policy,
            inventory,
            arguments.plan,
            site=site,
            abort=abort,
            progress=report.progress_printer(sys.stdout),
            dry_run=arguments.dry_run,
        )
        result = drill.run_plan(request)
    print(report.result_text(result, dry_run=arguments.dry_run))
    return EXIT_BY_OUTCOME[result.outcome]


def command_prune(arguments: argparse.Namespace) -> int:
    """Apply the plan's retention on the target; exit 1 when a deletion failed, 3 when the
    target cannot be listed (nothing deleted)."""
    from barctl.console import json_views, target_report  # noqa: PLC0415 - see the imports
    from barctl.run import prune, target_listing  # noqa: PLC0415

    policy, inventory, site = _unpack(_load(arguments))
    try:
        result = prune.perform(policy, inventory, site, arguments.plan, dry_run=arguments.dry_run)
    except target_listing.TargetUnreadable as error:
        print(f"barctl: {error}; nothing deleted", file=sys.stderr)
        return EXIT_REFUSED
    if arguments.json:
        print(json_views.render("prune", target_report.prune_body(result)))
    else:
        print(target_report.prune_text(result))
    return EXIT_SUCCESS if result.ok else EXIT_FAILED


def command_backups(arguments: argparse.Namespace) -> int:
    """Every run on the target per node, newest first, read from the manifests only (works
    without the history database); exit 3 when the target cannot be listed."""
    from barctl.console import json_views, target_report  # noqa: PLC0415 - see the imports
    from barctl.run import prune, target_listing  # noqa: PLC0415

    policy, inventory, site = _unpack(_load(arguments))
    plans = [name for name, _ in policy.plans.items()]
    if arguments.plan is not None and arguments.plan not in plans:
        raise BarctlError(f"no plan {arguments.plan!r} in the policy; plans: {', '.join(plans)}")
    chosen = [arguments.plan] if arguments.plan else plans
    try:
        listing = prune.list_runs(policy, inventory, site, chosen, arguments.node)
    except target_listing.TargetUnreadable as error:
        print(f"barctl: {error}", file=sys.stderr)
        return EXIT_REFUSED
    rows = target_report.backup_rows(listing, arguments.node)
    print(
        json_views.render("backups", {"runs": rows})
        if arguments.json
        else target_report.backups_text(rows)
    )
    return EXIT_SUCCESS


class abort_on_signals:
    """Turn SIGTERM and SIGINT into `abort.set()` for the duration of a run."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, abort: threading.Event) -> None:
        self.abort = abort
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> None:
        for number in self.SIGNALS:
            self.previous[number] = signal.signal(number, lambda *_: self.abort.set())

    def __exit__(self, *exception: object) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)


def command_status(arguments: argparse.Namespace) -> int:
    """Whether the daemon runs (since when, its policy, next runs), and each plan's last run,
    last success and next run, for any user (console/status_view.py)."""
    from barctl.console import json_views, status_view  # noqa: PLC0415 - see the imports

    body = status_view.status(arguments.config, os.environ, datetime.now(timezone.utc))
    print(json_views.render("status", body) if arguments.json else status_view.status_text(body))
    return EXIT_SUCCESS


def command_history(arguments: argparse.Namespace) -> int:
    """Recent runs with their nodes."""
    from barctl.console import json_views, report  # noqa: PLC0415 - see the imports

    loaded = _load(arguments)
    rows = report.history_rows(loaded.site, arguments.plan, arguments.limit)
    print(
        json_views.render("history", {"runs": rows})
        if arguments.json
        else report.history_text(rows)
    )
    return EXIT_SUCCESS


def command_install_service(arguments: argparse.Namespace) -> int:
    """Place the service files for the environment barctl runs from (barctl/service/install.py)."""
    from barctl.service import install  # noqa: PLC0415 - see the imports

    print("\n".join(install.install(Path(arguments.prefix), arguments.dry_run)))
    return EXIT_SUCCESS


def command_restore_runbook(arguments: argparse.Namespace) -> int:
    """Print the restore runbook of a node's run read from the target; exit 1 when none."""
    from barctl.console import runbook_command  # noqa: PLC0415 - see the imports

    policy, inventory, site = _unpack(_load(arguments))
    try:
        text = runbook_command.runbook(
            policy, inventory, site, arguments.node, arguments.run_id, as_json=arguments.json
        )
    except runbook_command.NoSuchRunError as error:
        print(f"barctl: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(text, end="" if text.endswith("\n") else "\n")
    return EXIT_SUCCESS


def command_alert_rules(arguments: argparse.Namespace) -> int:
    """Print (or write) the policy's alert rules (barctl/observe/alert_rules.py)."""
    from barctl.console import alert_rules_command  # noqa: PLC0415 - see the imports

    print(
        alert_rules_command.run(arguments.config, arguments.runbook_base, arguments.output), end=""
    )
    return EXIT_SUCCESS


def command_daemon(arguments: argparse.Namespace) -> int:
    """Run the scheduler until stopped (see barctl/service/daemon.py)."""
    from barctl.service import daemon  # noqa: PLC0415 - only the daemon needs APScheduler and systemd

    return daemon.main(arguments)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "validate": command_validate,
    "inventory": command_inventory,
    "plan": command_plan,
    "precheck": command_precheck,
    "setup": command_setup,
    "run": command_run,
    "prune": command_prune,
    "backups": command_backups,
    "status": command_status,
    "history": command_history,
    "install-service": command_install_service,
    "restore-runbook": command_restore_runbook,
    "alert-rules": command_alert_rules,
    "daemon": command_daemon,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run a sub-command, print problems without tracebacks, return the exit code."""
    arguments = cli_parser.build_parser().parse_args(argv)
    level = logging.INFO if arguments.verbose else logging.WARNING
    from barctl.observe import logs  # noqa: PLC0415 - see the imports

    logs.configure(os.environ.get("BARCTL_LOG_FORMAT", "auto"), level)
    try:
        return COMMANDS[arguments.command](arguments)
    except InputError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return EXIT_USAGE
    except LockBusyError as error:
        print(f"barctl: {error}", file=sys.stderr)
        return EXIT_LOCKED
    except BarctlError as error:
        print(f"barctl: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # `barctl history | head`: the reader left; say nothing more (Python docs, SIGPIPE).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_SUCCESS
