"""Each node's manifest: composed from what verification measured, written on the target last.

Pure composition (`compose`, `history_record`); `write` is the one command that puts it on the
target (commands_target.write_manifest: a temporary file renamed, so a reader never sees half
of it). A
manifest is written after verification whether it passed or not (manifest.py): a run directory
without one is a run that crashed or is still going, never a verified one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from barctl import __version__
from barctl.history.records import ArtifactRecord, ManifestFileRecord
from barctl.run import manifest
from barctl.run.manifest import Manifest, ManifestFile, Target, Verification
from barctl.run.plan import BackupTarget
from barctl.run.verifier import Subject, Verified

# A line of ReaR's own (usr/sbin/rear: "$PRODUCT $VERSION / $RELEASE_DATE"), not any text a
# node prints: anchored at a line's start, a version-shaped word of bounded length, so nothing
# else from the node's output lands in the manifest.
_REAR_VERSION = re.compile(r"^Relax-and-Recover ([0-9][0-9A-Za-z.+~-]{0,31})(?: |$)", re.MULTILINE)


@dataclass(frozen=True)
class RunFacts:
    """What every manifest of one run shares."""

    plan: str
    run_id: str
    started_at: datetime
    policy_sha256: str
    target: BackupTarget


def rear_version(stdout: str) -> str:
    """`2.6` from `rear -V` (`Relax-and-Recover 2.6 / 2020-06-17`); `unknown` when unreadable."""
    found = _REAR_VERSION.search(stdout)
    return found.group(1) if found else "unknown"


def _files(subject: Subject, verified: Verified) -> tuple[ManifestFile, ...]:
    kinds = {subject.iso: "iso"}
    if subject.archive is not None:
        kinds[subject.archive] = "archive"
    restore = f"{subject.directory}/{manifest.RESTORE_DIRECTORY}"
    for name in subject.material:
        kind = manifest.restore_kind(name)
        if kind is not None:
            kinds[f"{restore}/{name}"] = kind
    digests = dict(verified.sha256)
    return tuple(
        ManifestFile(
            artifact.path.removeprefix(subject.directory + "/"),
            kinds[artifact.path],  # type: ignore[arg-type]
            artifact.size_bytes,
            digests[artifact.path],
        )
        for artifact in verified.artifacts
        if artifact.path in digests and artifact.path in kinds
    )


def compose(
    run: RunFacts,
    node: str,
    subject: Subject,
    verified: Verified,
    *,
    rear: str,
    uefi: bool,
    checked_at: datetime,
) -> Manifest:
    """The manifest of `node`'s run: the files verification measured, and its verdict."""
    scheme = run.target.rear.scheme
    verdict = Verification(subject.mode, not verified.problem, verified.problem or None, checked_at)
    return Manifest(
        node=node,
        run_id=run.run_id,
        plan=run.plan,
        started_at=run.started_at,
        finished_at=checked_at,
        rear_version=rear,
        uefi=uefi,
        barctl_version=__version__,
        policy_sha256=run.policy_sha256,
        target=Target(scheme, run.target.directory),
        files=_files(subject, verified),
        verification=verdict,
    )


def history_record(found: Manifest) -> ArtifactRecord:
    """The same facts for the history's `artifacts` table."""
    return ArtifactRecord(
        run_id=found.run_id,
        node=found.node,
        plan=found.plan,
        target_scheme=found.target.scheme,
        target_directory=found.target.directory,
        started_at=found.started_at,
        finished_at=found.finished_at,
        rear_version=found.rear_version,
        uefi=found.uefi,
        barctl_version=found.barctl_version,
        policy_sha256=found.policy_sha256,
        files=tuple(
            ManifestFileRecord(item.path, item.kind, item.size_bytes, item.sha256)
            for item in found.files
        ),
        verify_mode=found.verification.mode,
        verified=found.verification.passed,
        reason=found.verification.reason,
        checked_at=found.verification.checked_at,
    )


def document(found: Manifest) -> tuple[str, str]:
    """(file name, JSON text) of the manifest, for commands_target.write_manifest."""
    return manifest.MANIFEST_NAME, manifest.render(found)
