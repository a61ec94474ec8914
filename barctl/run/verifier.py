"""Verification of one node's run on the backup target, right after its ReaR (issue 11).

The imperative half of `verification.py`: it runs the read-only commands of
`commands_target.py` on the target node (and reads the dump's tail on the cluster node) and
lets `verification` judge each output. The first problem ends the checks: the node is `failed`
with it.

`full` (the default): presence and size, the ISO's volume descriptors (ISO 9660 with an El Torito
boot record), sha256 of each file computed on the target, the archive's compressed stream
(`gzip -t`) and a full `tar --list`, both streamed on the target, and the dump's trailer. `quick`
(sites with very large archives): the same without the two passes that decompress the archive.
For SFTP the archive is inside the ISO (rear_config): its presence is read from the ISO's
directories, and `full` streams its bytes out of the ISO into the same two checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from barctl.model import Artifact, CommandResult, Node
from barctl.run import (
    commands_probe,
    commands_target,
    manifest,
    rear_config,
    restore_material,
    verdicts,
    verification,
)
from barctl.run.commands import RemoteCommand
from barctl.run.plan import BackupTarget, run_directory

VerifyMode = Literal["full", "quick"]
ISO_ARCHIVE_DIRECTORY = rear_config.ISO_BACKUP_URL.removeprefix("iso:///")


class CommandSteps(Protocol):
    """How the verifier runs commands: recorded steps, and unrecorded reads (hex dumps)."""

    def run(self, node: Node, command: RemoteCommand) -> CommandResult:
        """Run and record `command` as a step of the run."""
        ...

    def read(self, node: Node, command: RemoteCommand) -> CommandResult:
        """Run a read-only query without recording it."""
        ...

    def pipe(
        self, source: Node, read: RemoteCommand, destination: Node, write: RemoteCommand
    ) -> CommandResult:
        """Stream `read` on `source` into `write` on `destination`, recorded as one step."""
        ...


@dataclass(frozen=True)
class Subject:
    """One node's run as the target holds it: absolute paths on the target node."""

    iso: str
    # NFS: the archive file beside the ISO. SFTP: None, and `archive_in_iso` names it.
    archive: str | None
    archive_in_iso: tuple[str, str] | None  # (directory, file name) inside the ISO
    compress: str
    mode: VerifyMode
    # The run's directory on the target (`<dir>/<node>/<run_id>`): the manifest goes there.
    directory: str = ""
    # The restore material this node made (restore_material file names), in its run
    # directory on the node (`material_from`); copied to `<directory>/restore/`.
    material: tuple[str, ...] = ()
    material_from: str = ""
    # SFTP: where lftp left the ISO (the target path itself); moved to `iso` first.
    place_from: str | None = None


@dataclass(frozen=True)
class Verified:
    """The verdict: a problem ("" when every check passed), and what was measured."""

    problem: str
    artifacts: tuple[Artifact, ...] = ()
    sha256: tuple[tuple[str, str], ...] = ()  # (absolute path, hex)

    def digest(self, path: str) -> str:
        """The sha256 measured for `path`."""
        return dict(self.sha256)[path]


def subject(target: BackupTarget, node: str, run_id: str, material: tuple[str, ...]) -> Subject:
    """What to check of `node`'s run `run_id`: its artifacts as rear_config places them, and the
    run's dump when the node made one (`material`, restore_material)."""
    settings = target.settings_for(node)
    paths = target.artifact_paths(node, run_id)
    in_iso = target.rear.backup_url == rear_config.ISO_BACKUP_URL
    directory = f"{target.directory.rstrip('/')}/{manifest.run_directory(node, run_id)}"
    iso = f"{directory}/{rear_config.iso_name(node, run_id)}.iso"
    return Subject(
        iso=iso,
        archive=None if in_iso else paths[1],
        # BACKUP_URL=iso:///backup: the archive is /backup/<archive name> on the medium.
        archive_in_iso=(ISO_ARCHIVE_DIRECTORY, settings.archive_name) if in_iso else None,
        compress=settings.compress,
        mode="quick" if target.verify == "quick" else "full",
        directory=directory,
        material=material,
        material_from=run_directory(run_id),
        place_from=paths[0] if paths[0] != iso else None,
    )


class _Failed(Exception):
    """A check failed; carries the operator words."""


def verify(
    steps: CommandSteps,
    target: Node,
    node: Node,
    subject: Subject,
    timeouts: tuple[int, int],
) -> Verified:
    """Run every check of `subject.mode` on `target` (the dump's tail on `node`); `timeouts` =
    (short command, whole-file pass: sha256sum, gzip -t, tar --list)."""
    try:
        return _Checks(steps, target, node, subject, timeouts).run()
    except _Failed as failure:
        return Verified(str(failure))


def _check(problem: str) -> None:
    if problem:
        raise _Failed(problem)


def _problem(what: str, result: CommandResult) -> str:
    problem = verdicts.command_problem(result)
    return f"{what}: {problem}" if problem else ""


def _sizes_missing(paths: tuple[str, ...], sizes: dict[str, int]) -> str:
    missing = [path for path in paths if path not in sizes]
    return "missing on the backup target: " + ", ".join(missing) if missing else ""


def _missing_digest(paths: tuple[str, ...], digests: dict[str, str]) -> str:
    missing = [path for path in paths if path not in digests]
    return "sha256sum printed no checksum for " + ", ".join(missing) if missing else ""


@dataclass(frozen=True)
class _Checks:
    steps: CommandSteps
    target: Node
    node: Node
    subject: Subject
    timeouts: tuple[int, int]

    def run(self) -> Verified:
        short, long = self.timeouts
        subject = self.subject
        if subject.place_from is not None:
            place = commands_target.place_in_run_directory(
                subject.place_from, subject.directory, short
            )
            _check(_problem(f"moving {subject.place_from}", self.steps.run(self.target, place)))
        paths = (subject.iso,) if subject.archive is None else (subject.iso, subject.archive)
        result = self.steps.run(self.target, commands_probe.file_sizes(paths, short))
        sizes = verification.file_sizes(result.stdout)
        _check(verification.size_problem(paths, sizes) or _problem("stat", result))
        span = self._archive_span(self._iso_facts())
        result = self.steps.run(self.target, commands_target.file_checksums(paths, long))
        digests = verification.checksums(result.stdout)
        _check(_problem("sha256sum", result) or _missing_digest(paths, digests))
        if subject.mode == "full":
            self._check_archive(span)
        artifacts = [Artifact(path, sizes[path]) for path in paths]
        measured = [(path, digests[path]) for path in paths]
        copied = self._copy_material()
        artifacts += [artifact for artifact, _ in copied]
        measured += [(artifact.path, digest) for artifact, digest in copied]
        return Verified("", tuple(artifacts), tuple(measured))

    def _copy_material(self) -> list[tuple[Artifact, str]]:
        """Each restore file streamed node -> barctl -> target, then sha256 on both ends
        compared; the copied dump must end with mysqldump's trailer."""
        subject, (short, long) = self.subject, self.timeouts
        names = subject.material
        if not names:
            return []
        destination = f"{subject.directory}/{manifest.RESTORE_DIRECTORY}"
        sources = tuple(f"{subject.material_from}/{name}" for name in names)
        copies = tuple(f"{destination}/{name}" for name in names)
        for name, source in zip(names, sources):
            read = commands_target.read_file(source, long)
            write = commands_target.write_restore_file(destination, name, long)
            result = self.steps.pipe(self.node, read, self.target, write)
            _check(_problem(f"copying {source} to the backup target", result))
        result = self.steps.run(self.node, commands_target.file_checksums(sources, long))
        on_node = verification.checksums(result.stdout)
        _check(_problem("sha256sum on the node", result) or _missing_digest(sources, on_node))
        result = self.steps.run(self.target, commands_target.file_checksums(copies, long))
        on_target = verification.checksums(result.stdout)
        _check(_problem("sha256sum of the copies", result) or _missing_digest(copies, on_target))
        _check(verification.copy_problem(list(zip(sources, copies)), on_node, on_target))
        result = self.steps.run(self.target, commands_probe.file_sizes(copies, short))
        sizes = verification.file_sizes(result.stdout)
        _check(_problem("stat of the copies", result) or _sizes_missing(copies, sizes))
        if restore_material.DATABASE_DUMP in names:
            dump = f"{destination}/{restore_material.DATABASE_DUMP}"
            tail = commands_target.file_tail(dump, verification.DUMP_TAIL_BYTES, short)
            result = self.steps.run(self.target, tail)
            _check(_problem("reading the dump", result) or verification.dump_problem(result.stdout))
        return [(Artifact(copy, sizes[copy]), on_target[copy]) for copy in copies]

    def _sectors(self, first: int, count: int) -> bytes:
        iso = self.subject.iso
        result = self.steps.read(
            self.target, commands_target.iso_sectors(iso, first, count, self.timeouts[0])
        )
        _check(_problem(f"reading {iso}", result))
        return verification.octal_dump_bytes(result.stdout)

    def _iso_facts(self) -> verification.IsoFacts:
        first, count = verification.DESCRIPTOR_SECTOR, verification.DESCRIPTOR_SECTORS
        facts = verification.iso_facts(self._sectors(first, count))
        if isinstance(facts, str):
            raise _Failed(f"{self.subject.iso}: {facts}")
        return facts

    def _directory(self, sector: int, size: int) -> tuple[verification.DirectoryEntry, ...]:
        data = self._sectors(sector, verification.sectors_for(size))
        return verification.directory_entries(data)

    def _archive_span(self, iso: verification.IsoFacts) -> tuple[int, int] | None:
        """SFTP: where the archive is inside the ISO; it must be there (None for NFS)."""
        if self.subject.archive_in_iso is None:
            return None
        folder, name = self.subject.archive_in_iso
        found = verification.find_directory(
            self._directory(iso.root_sector, iso.root_bytes), folder
        )
        span: tuple[int, int] | str = "missing"
        if found is not None:
            span = verification.file_span(self._directory(found.sector, found.size_bytes), name)
        if isinstance(span, tuple) and span[1] == 0:
            span = "empty"
        if isinstance(span, str):
            raise _Failed(f"archive {folder}/{name} inside {self.subject.iso}: {span}")
        return span

    def _check_archive(self, span: tuple[int, int] | None) -> None:
        """The compressed stream whole (`gzip -t`), then every tar header read (`tar --list`)."""
        subject, timeout = self.subject, self.timeouts[1]
        compress, iso = subject.compress, subject.iso
        if span is not None:
            where = f"archive inside {iso}"
            test = commands_target.iso_file_compression_test(iso, *span, compress, timeout)
            listing = commands_target.iso_file_listing(iso, *span, compress, timeout)
        else:
            assert subject.archive is not None
            where = f"archive {subject.archive}"
            test = commands_target.compression_test(subject.archive, compress, timeout)
            listing = commands_target.archive_listing(subject.archive, compress, timeout)
        tester = commands_target.COMPRESSION_TESTERS.get(compress)
        if tester is not None:
            _check(_problem(f"{where}: {tester} -t failed", self.steps.run(self.target, test)))
        _check(_problem(f"{where}: tar --list failed", self.steps.run(self.target, listing)))
