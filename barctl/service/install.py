"""`barctl install-service`: the unit, sysusers and tmpfiles files (and an example policy) in place.

The files come from where the running barctl was installed from: the wheel's data files
(`<prefix>/share/barctl/`, found through the distribution's RECORD) or, for a checkout installed
in editable mode (setuptools installs no data files then), the checkout itself. The unit's
`ExecStart=` runs the interpreter running this command, so the service uses the same environment
(venv, AppStream Python, ...) the operator installed barctl into. Nothing is started and no
user is created here: the printed next steps do that (docs/install.md, "install-service").
"""

from __future__ import annotations

import grp
import importlib.metadata
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from barctl.errors import BarctlError

POLICY = "/etc/barctl/policy.yaml"

# Installed path (relative to the environment's prefix) and checkout path of each shipped file.
SHIPPED = {
    "unit": ("share/barctl/systemd/barctl.service", "systemd/barctl.service"),
    "sysusers": ("share/barctl/systemd/barctl.sysusers.conf", "systemd/barctl.sysusers.conf"),
    "tmpfiles": ("share/barctl/systemd/barctl.tmpfiles.conf", "systemd/barctl.tmpfiles.conf"),
    "policy": ("share/barctl/etc/barctl/policy.yaml", "etc/barctl/policy.yaml"),
}

# Locally installed files go under /etc (systemd.unit(5), sysusers.d(5), tmpfiles.d(5): /usr/lib
# is the vendor's, i.e. the RPM's, and an /etc file of the same name overrides it).
DESTINATIONS = {
    "unit": "etc/systemd/system/barctl.service",
    "sysusers": "etc/sysusers.d/barctl.conf",
    "tmpfiles": "etc/tmpfiles.d/barctl.conf",
    "policy": POLICY.lstrip("/"),
}

# ExecStart= splits on white space and expands `%` specifiers and `$` variables
# (systemd.service(5), "Command lines"): a path made of these characters needs no quoting.
PLAIN_PATH = re.compile(r"/[A-Za-z0-9/._+@-]*")


@dataclass(frozen=True)
class Placement:
    """One file to put in place: its text, mode, and whether an existing file is kept."""

    destination: str
    content: str
    mode: int
    keep_existing: bool


def exec_start(interpreter: str) -> str:
    """The unit's command: the running interpreter with `-m barctl`, the default policy, daemon."""
    if not PLAIN_PATH.fullmatch(interpreter):
        raise BarctlError(
            f"interpreter path {interpreter!r} has characters ExecStart= would expand or split;"
            " install barctl under a plain path (letters, digits, / . _ + @ -)"
        )
    return f"{interpreter} -m barctl --config {POLICY} daemon"


def unit_text(shipped: str, command: str) -> str:
    """The shipped unit with its one `ExecStart=` line replaced by `command`."""
    text, count = re.subn(r"(?m)^ExecStart=.*$", lambda _: f"ExecStart={command}", shipped)
    if count != 1:
        raise BarctlError(f"the shipped unit has {count} ExecStart= lines, expected 1")
    return text


def placements(shipped: dict[str, str], interpreter: str) -> tuple[Placement, ...]:
    """What goes where: the unit with this environment's ExecStart, the rest as shipped."""
    unit = unit_text(shipped["unit"], exec_start(interpreter))
    return (
        Placement(DESTINATIONS["unit"], unit, 0o644, keep_existing=False),
        Placement(DESTINATIONS["sysusers"], shipped["sysusers"], 0o644, keep_existing=False),
        Placement(DESTINATIONS["tmpfiles"], shipped["tmpfiles"], 0o644, keep_existing=False),
        # The policy is the operator's once it exists: never overwritten.
        Placement(DESTINATIONS["policy"], shipped["policy"], 0o640, keep_existing=True),
    )


def action(placement: Placement, existing: str | None) -> str:
    """`created`, `updated`, `unchanged`, or `kept` (an existing policy is the operator's)."""
    if existing is None:
        return "created"
    if placement.keep_existing:
        return "kept"
    return "unchanged" if existing == placement.content else "updated"


def shipped_directory_candidates() -> list[tuple[Path, int]]:
    """Where the shipped files may be: (base, index into SHIPPED's pairs), installed ones first."""
    candidates: list[tuple[Path, int]] = []
    # Every barctl on sys.path, not only the first: an editable install's metadata lists no data
    # files, and PYTHONPATH may put another environment's metadata first.
    for distribution in importlib.metadata.distributions(name="barctl"):
        for record in distribution.files or ():
            if record.as_posix().endswith(SHIPPED["unit"][0]):
                located = Path(str(distribution.locate_file(record))).resolve()
                candidates.append((located.parents[3], 0))
    # An editable install or a checkout: barctl/ sits beside systemd/ and etc/.
    candidates.append((Path(__file__).resolve().parents[2], 1))
    return candidates


def read_shipped() -> tuple[Path, dict[str, str]]:
    """The shipped files' directory and text, from the first place that has all of them."""
    for base, index in shipped_directory_candidates():
        paths = {name: base / pair[index] for name, pair in SHIPPED.items()}
        if all(path.is_file() for path in paths.values()):
            directory = paths["unit"].parents[1]
            return directory, {name: path.read_text() for name, path in paths.items()}
    raise BarctlError(
        "the unit, sysusers, tmpfiles and policy files are not installed with this barctl"
        " (expected under <prefix>/share/barctl/): reinstall barctl from its wheel"
    )


def place(placement: Placement, root: Path, dry_run: bool) -> str:
    """Write one file under `root` unless it is current or kept; say what was (or would be) done."""
    path = root / placement.destination
    existing = path.read_text() if path.is_file() else None
    done = action(placement, existing)
    if not dry_run and done in ("created", "updated"):
        try:
            write(placement, path)
        except OSError as error:
            raise BarctlError(
                f"cannot write {path}: {error.strerror} (run as root, or give --prefix DIR)"
            ) from error
    return f"{'would be ' if dry_run else ''}{done} {path}"


def write(placement: Placement, path: Path) -> None:
    """Write beside `path`, set mode (and the policy's group), then rename: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.barctl-new")
    temporary.write_text(placement.content)
    temporary.chmod(placement.mode)
    if placement.destination == DESTINATIONS["policy"]:
        give_to_barctl_group(temporary)
    os.replace(temporary, path)


def give_to_barctl_group(path: Path) -> None:
    """The policy is root:barctl 0640 (docs/install.md) when the group exists and we are root."""
    try:
        group = grp.getgrnam("barctl").gr_gid
    except KeyError:
        return
    if os.geteuid() == 0:
        os.chown(path, 0, group)


NEXT_STEPS = (
    "next, as root: systemd-sysusers barctl.conf && systemd-tmpfiles --create barctl.conf"
    " && chgrp barctl /etc/barctl/policy.yaml && systemctl daemon-reload;"
    " edit the policy, then systemctl enable --now barctl (docs/install.md)"
)


def install(root: Path, dry_run: bool, interpreter: str | None = None) -> list[str]:
    """Put every file in place under `root` (`/` on a real host); one line per file, then next."""
    interpreter = interpreter or sys.executable
    directory, shipped = read_shipped()
    lines = [f"files from {directory}"]
    lines.extend(place(item, root, dry_run) for item in placements(shipped, interpreter))
    lines.append(f"ExecStart={exec_start(interpreter)}")
    lines.append(NEXT_STEPS)
    return lines
