"""What the backup target holds for a set of nodes, read from its directories and manifests alone.

The manifests are the record of the target (issue 11): `barctl backups` and retention read them
over SSH on the target node, never the history database, so a new undercloud or a lost
`history.db` still knows every run. Two kinds of command run there, both read-only and bounded
(barctl.run.commands): one `find` listing `<dir>/<node>/<run id>[/file]` and `restore/` files,
then bounded `head`s of the manifests, 64 per command. Only directories whose node is one asked
for and whose name is a run id (`records.run_id_parts`) are ever listed, so every path built
from a listing is `<dir>/<checked node>/<checked run id>`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from barctl.errors import BarctlError
from barctl.history.records import run_id_parts
from barctl.model import CommandResult, Node
from barctl.run import commands_target, manifest, manifest_parse
from barctl.run.retention import RunState, TargetRun
from barctl.run.runner import Runner

# Manifests read by one command: bounds its argv (paths of about 100 bytes) and its output.
MANIFESTS_PER_COMMAND = 64


class TargetUnreadable(BarctlError):
    """The target's directory could not be listed: nothing is judged from a partial view."""


@dataclass(frozen=True)
class RunDirectory:
    """`<dir>/<node>/<run_id>` as `find` saw it: its regular files and those of its `restore/`
    (path relative to the run directory, bytes)."""

    node: str
    run_id: str
    started_at: datetime
    plan: str
    files: tuple[tuple[str, int], ...] = ()

    @property
    def has_manifest(self) -> bool:
        """Whether the manifest, written last, is there."""
        return any(name == manifest.MANIFEST_NAME for name, _ in self.files)


@dataclass(frozen=True)
class ListedRun:
    """One run directory judged from its manifest; `problem` says why a manifest is unreadable."""

    directory: RunDirectory
    state: RunState
    manifest: manifest.Manifest | None = None
    problem: str = ""

    @property
    def size_bytes(self) -> int:
        """The manifest's files, else what the directory holds."""
        if self.manifest is not None:
            return self.manifest.size_bytes
        return sum(size for _, size in self.directory.files)

    def target_run(self) -> TargetRun:
        """What the retention rule needs of this run."""
        found = self.directory
        return TargetRun(found.node, found.run_id, found.started_at, self.state)


@dataclass(frozen=True)
class Listing:
    """Every run directory of the asked nodes, nodes in the order asked, each newest first."""

    directory: str
    runs: tuple[ListedRun, ...]
    # Entries under an asked node that are not run directories (`lost+found`, stray files).
    ignored: tuple[str, ...] = field(default=())


def parse_entries(
    text: str, nodes: Collection[str]
) -> tuple[tuple[RunDirectory, ...], tuple[str, ...]]:
    """Run directories of `nodes` from `target_entries`' NUL-ended `TYPE SIZE PATH` records,
    nodes in the order of `nodes`, newest first; and the other entries under those nodes."""
    found: dict[tuple[str, str], list[tuple[str, int]]] = {}
    ignored: list[str] = []
    for record in text.split("\0"):
        kind, _, rest = record.partition(" ")
        size, _, path = rest.partition(" ")
        parts = path.split("/")
        if len(parts) < 2 or parts[0] not in nodes or not size.isdigit():
            continue
        if run_id_parts(parts[1]) is None or (len(parts) == 2 and kind != "d"):
            ignored += [path] if len(parts) == 2 else []
            continue
        files = found.setdefault((parts[0], parts[1]), [])
        name = "/".join(parts[2:])
        if kind == "f" and (len(parts) == 3 or parts[2] == manifest.RESTORE_DIRECTORY):
            files.append((name, int(size)))
    return _directories(found, nodes), tuple(ignored)


def _directories(
    found: dict[tuple[str, str], list[tuple[str, int]]], nodes: Collection[str]
) -> tuple[RunDirectory, ...]:
    order = {node: index for index, node in enumerate(nodes)}
    keys = sorted(found, key=lambda key: key[1], reverse=True)
    keys.sort(key=lambda key: order[key[0]])
    directories = []
    for node, run_id in keys:
        parts = run_id_parts(run_id)
        assert parts is not None  # only run ids were kept
        files = tuple(sorted(found[node, run_id]))
        directories.append(RunDirectory(node, run_id, parts[0], parts[1], files))
    return tuple(directories)


def judge(directory: RunDirectory, text: str | None, source: str) -> ListedRun:
    """The run, from its manifest's text (None: no manifest); a manifest that does not parse,
    or names another node or run than its directory, makes the run unreadable."""
    if text is None:
        return ListedRun(directory, RunState.INCOMPLETE)
    try:
        found = manifest_parse.parse(text, source)
    except manifest_parse.ManifestError as error:
        first = str(error.problems[0]) if error.problems else str(error)
        return ListedRun(directory, RunState.UNREADABLE, problem=first)
    if (found.node, found.run_id) != (directory.node, directory.run_id):
        problem = f"{source}: names {found.node}/{found.run_id}, not its directory"
        return ListedRun(directory, RunState.UNREADABLE, problem=problem)
    state = RunState.VERIFIED if found.verification.passed else RunState.FAILED
    return ListedRun(directory, state, found)


def read_target(
    runner: Runner, target: Node, directory: str, nodes: Collection[str], timeout: int
) -> Listing:
    """List `directory` on `target` and read every manifest of `nodes`' runs (read-only)."""
    result = runner.run(target, commands_target.target_entries(directory, timeout))
    if not result.ok:
        raise TargetUnreadable(f"cannot list {directory} on {target.name}: {_last_line(result)}")
    directories, ignored = parse_entries(result.stdout, nodes)
    paths = {
        found: manifest.manifest_path(directory, found.node, found.run_id)
        for found in directories
        if found.has_manifest
    }
    texts = _read_manifests(runner, target, tuple(paths.values()), timeout)
    runs = []
    for found in directories:
        path = paths.get(found)
        text, problem = texts.get(path, (None, "")) if path is not None else (None, "")
        if problem:
            runs.append(ListedRun(found, RunState.UNREADABLE, problem=f"{path}: {problem}"))
        else:
            runs.append(judge(found, text, f"{target.name}:{path}"))
    return Listing(directory, tuple(runs), ignored)


def _read_manifests(
    runner: Runner, target: Node, paths: tuple[str, ...], timeout: int
) -> dict[str, tuple[str | None, str]]:
    """(text, "") or (None, why) per path: `MANIFESTS_PER_COMMAND` per command, and one by one
    when an answer does not split into one record per file (a NUL inside a damaged file)."""
    found: dict[str, tuple[str | None, str]] = {}
    for start in range(0, len(paths), MANIFESTS_PER_COMMAND):
        batch = paths[start : start + MANIFESTS_PER_COMMAND]
        records = _records(runner, target, batch, timeout)
        if records is None and len(batch) > 1:
            for path in batch:
                found |= _read_manifests(runner, target, (path,), timeout)
            continue
        for path, (text, why) in zip(batch, records or [("", "holds a NUL byte")]):
            found[path] = (text, "") if text else (None, why)
    return found


def _records(
    runner: Runner, target: Node, batch: tuple[str, ...], timeout: int
) -> list[tuple[str, str]] | None:
    """(text, why empty) per file of `batch`, None when the answer has not one record each."""
    result = runner.run(target, commands_target.read_manifests(batch, timeout))
    if result.reason is not None:
        return [("", _last_line(result))] * len(batch)
    parts = result.stdout.split("\0")
    if len(parts) != len(batch) + 1 or parts[-1]:
        return None
    return [(text, "" if text else _last_line(result)) for text in parts[:-1]]


def _last_line(result: CommandResult) -> str:
    lines = result.stderr_tail().splitlines()
    return lines[-1] if lines else f"exit {result.exit_code}"


def run_path(directory: str, node: str, run_id: str) -> str:
    """The absolute path of a listed run's directory on the target."""
    return f"{directory.rstrip('/')}/{manifest.run_directory(node, run_id)}"
