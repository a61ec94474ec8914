"""docs/restore.md tested against the lab: after real control-plane and undercloud runs, every
barctl path the document names exists where it says, the barctl commands it gives work, and
booting the ISO it names finds the archive it names (`lab.boot_and_recover`, plain `rear
recover` as the rescue system runs it).

The document is read as an operator reads it: placeholders (`<node>`, `<run id>`, `<export>`,
`<path>`, `<backup node>`) are filled with one node's run, then every absolute path in its code
(inline or fenced) that barctl owns is checked, on the host the section is about: the backup
target (`<export>`/`<path>`), the node's `/var/lib/barctl/<run id>/`, and the restored disk
(`/mnt/local` is the node's own disk after `rear recover`). The guide's own paths (the galera
container's, /root, the rescue shell's mount points) are not barctl's and are not checked here.
"""

from __future__ import annotations

import re
import shlex
import tarfile
from pathlib import Path

import pytest

from barctl.config.policy import Policy
from lab import Lab
from tests.engine.helpers import barctl, policy_for, run_backup
from tests.engine.test_restore_lab import sftp_policy

pytestmark = pytest.mark.lab

DOC = Path(__file__).resolve().parents[2] / "docs" / "restore.md"
CONTROLLERS = ("ctl-0", "ctl-1", "ctl-2")
# Which nodes each numbered section is about (the others: every node).
SECTION_NODES = {
    "4.": CONTROLLERS,  # the lab's controllers all run a ceph monitor
    "5.": ("undercloud",),
    "6.": CONTROLLERS,
    "7.": CONTROLLERS,
    "8.": ("undercloud",),
}
# Paths barctl owns: on the target, in the node's run directory, and the config-drive image
# on the restored disk.
EXPORT = "/ctl_plane_backups"
# ... and the ceph hooks `barctl setup` installs on monitor nodes (guide 4.1).
BARCTL_PREFIXES = (
    f"{EXPORT}/",
    "/var/lib/barctl/",
    "/mnt/local/mnt/",
    "/usr/share/rear/setup/",
    "/usr/share/rear/wrapup/",
)
SFTP_PATH = "/sftp-path"
# barctl's subcommands the document gives; restore-runbook reads the run's manifest on the
# target and is proven by its own tests (tests/unit/test_runbook_command.py), the rest run here.
RUN_HERE = ("history", "precheck")
ELSEWHERE = ("restore-runbook",)


def doc_sections() -> dict[str, str]:
    """The document's `## ` sections by heading (the text before the first one under "")."""
    parts = re.split(r"^## ", DOC.read_text(), flags=re.M)
    found = {"": parts[0]}
    for part in parts[1:]:
        heading, _, body = part.partition("\n")
        found[heading.strip()] = body
    return found


FENCE = re.compile(r"^ *(?:\d+\. )?```[a-z]*\n(.*?)^ *```", flags=re.M | re.S)


def fenced(text: str) -> list[str]:
    """Every line of `text`'s fenced code blocks (list items indent theirs)."""
    return [line.strip() for block in FENCE.findall(text) for line in block.splitlines()]


def code(text: str) -> list[str]:
    """Every fenced code line and every inline code span of `text`."""
    return fenced(text) + re.findall(r"`([^`\n]+)`", FENCE.sub("", text))


def fill(text: str, values: dict[str, str]) -> str:
    """`text` with each placeholder replaced."""
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def absolute_paths(spans: list[str]) -> set[str]:
    """Absolute paths in code spans, as shell words (`if=/x` gives /x); globs dropped."""
    paths = set()
    for span in spans:
        for raw in re.split(r"[\s'\"=();|,]+", span):
            word = raw.rstrip(".:")
            if word.startswith("/") and not any(char in word for char in "*<>$"):
                paths.add(word)
    return paths


def section_nodes(heading: str) -> tuple[str, ...] | None:
    """The nodes a section is about; None: every node."""
    return next((nodes for key, nodes in SECTION_NODES.items() if heading.startswith(key)), None)


def barctl_paths_for(node: str, values: dict[str, str]) -> set[str]:
    """barctl's paths the document names for `node`, placeholders filled."""
    found: set[str] = set()
    for heading, body in doc_sections().items():
        nodes = section_nodes(heading)
        if nodes is None or node in nodes:
            found |= absolute_paths(code(fill(body, values)))
    prefixes = (*BARCTL_PREFIXES, f"{SFTP_PATH}/")
    return {path for path in found if path.startswith(prefixes)}


def on_lab(lab: Lab, node: str, path: str) -> Path:
    """Where a barctl path the document names is in the lab."""
    if path.startswith(f"{EXPORT}/"):
        return lab.export_directory / path.removeprefix(f"{EXPORT}/")
    if path.startswith(f"{SFTP_PATH}/"):
        return lab.export_directory / path.removeprefix(f"{SFTP_PATH}/")
    if path.startswith("/usr/share/rear/"):
        return lab.host_directory(node, "usr-share-rear") / path.removeprefix("/usr/share/rear/")
    if path.startswith("/var/lib/barctl/"):
        return lab.host_directory(node, "var-lib-barctl") / path.removeprefix("/var/lib/barctl/")
    # After `rear recover` the node's own disk is mounted on /mnt/local.
    return lab.host_directory(node) / path.removeprefix("/mnt/local/")


def nfs_values(lab: Lab, node: str, run_id: str) -> dict[str, str]:
    """The document's placeholders for an NFS run of `node` (SFTP paths left unmatched)."""
    address = lab.address("backup-0")
    return {"<node>": node, "<run id>": run_id, "<export>": EXPORT, "<backup node>": address}


def files_table(target: str) -> tuple[str, str]:
    """(ISO, archive) of the "Where each run's files are" row for `target` (NFS, SFTP)."""
    rows = [line for line in DOC.read_text().splitlines() if line.startswith(f"| {target} |")]
    (row,) = rows
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    return cells[1], cells[2]


def one_path(cell: str) -> str:
    """The single code span of a table cell."""
    (span,) = re.findall(r"`([^`]+)`", cell)
    return str(span)


def state_file_is_barctls(path: str) -> bool:
    """`/var/lib/barctl/history.db` is barctl's own state (policy default), not a run's file."""
    default = Policy.model_fields["state_directory"].default
    return path == f"{default!s}/history.db"


def check_paths(lab: Lab, node: str, values: dict[str, str]) -> list[str]:
    """The document's barctl paths for `node` missing in the lab."""
    missing = []
    for path in sorted(barctl_paths_for(node, values)):
        if state_file_is_barctls(path):
            continue
        if not on_lab(lab, node, path).exists():
            missing.append(path)
    return missing


def doc_commands() -> list[list[str]]:
    """Every `barctl ...` command line of the document's code blocks, as argv after `barctl`
    (`sudo -u barctl barctl ...`: the first `barctl` is the user)."""
    found = []
    for line in fenced(DOC.read_text()):
        if not re.match(r"(sudo -u barctl )?barctl ", line):
            continue
        words = shlex.split(line.split(";")[0], comments=True)
        if "barctl" in words:
            words = words[words.index("barctl") + 1 :]
            found.append(words[1:] if words[:1] == ["barctl"] else words)
    return found


Runs = tuple[Path, str, str]


def nfs_runs(lab: Lab, tmp_path: Path) -> Runs:
    """(policy, control-plane run id, undercloud run id) after `barctl setup` and one NFS run
    of each plan, every controller with a config drive."""
    for host in CONTROLLERS:
        lab.set_config_drive(host, f"config drive of {host}".encode())
    policy = policy_for(lab, tmp_path)
    return policy, run_backup(policy, "controlplane"), run_backup(policy, "undercloud")


def assert_paths_exist(lab: Lab, runs: Runs) -> None:
    """Each path restore.md names for a node's run (target, run directory, config-drive image
    on the restored disk) is there; a path in a section about controllers is checked on each
    controller, the undercloud's on the undercloud."""
    _, controlplane, undercloud = runs
    for node, run_id in (
        *((node, controlplane) for node in CONTROLLERS),
        ("undercloud", undercloud),
    ):
        values = nfs_values(lab, node, run_id)
        assert len(barctl_paths_for(node, values)) >= 3, node
        assert check_paths(lab, node, values) == [], node
    controller_paths = barctl_paths_for("ctl-0", nfs_values(lab, "ctl-0", controlplane))
    assert "/mnt/local/mnt/config-drive" in controller_paths
    assert f"/var/lib/barctl/{controlplane}/pacemaker_backup.tar.bz2" in controller_paths
    assert "/usr/share/rear/setup/default/011_backup_ceph.sh" in controller_paths


def run_directory_table() -> list[tuple[str, str]]:
    """(file, on which nodes) of section 2's table of a run directory's files."""
    section = next(body for heading, body in doc_sections().items() if heading.startswith("2."))
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+) \|", section, flags=re.M)
    return [(name, where.strip()) for name, where in rows]


def assert_run_directory_table(lab: Lab, runs: Runs) -> None:
    """Each file section 2 lists is in the run directory of the nodes its row names."""
    _, controlplane, undercloud = runs
    table = run_directory_table()
    assert len(table) >= 6
    for name, where in table:
        nodes = ("undercloud",) if where == "undercloud" else CONTROLLERS
        run_id = undercloud if nodes == ("undercloud",) else controlplane
        for node in nodes:
            path = lab.host_directory(node, "var-lib-barctl") / run_id / name
            assert path.is_file(), (name, node)


def assert_iso_recovers_named_archive(lab: Lab, runs: Runs) -> None:
    """Booting the NFS table's ISO finds exactly the table's archive; the rescue-shell checks of
    section 3 (BACKUP_URL, NETFS_PREFIX, the archive rear recover prints) hold."""
    _, controlplane, undercloud = runs
    iso_cell, archive_cell = files_table("NFS")
    section = doc_sections()[
        "3. Before booting an ISO: check it is the run you want (rescue shell)"
    ]
    for node, run_id in (("ctl-1", controlplane), ("undercloud", undercloud)):
        values = nfs_values(lab, node, run_id)
        iso = on_lab(lab, node, fill(one_path(iso_cell), values))
        result = lab.boot_and_recover(node, iso)
        assert result.ok, result.message
        assert result.archive == on_lab(lab, node, fill(one_path(archive_cell), values))
        checks = fill(section, values)
        prefix = re.search(r"expect NETFS_PREFIX=(\S+)", checks)
        url = re.search(r"NFS: (\S+)", checks)
        shown = re.search(r"Using backup archive '\.\.\.(\S+)'", checks)
        assert prefix and url and shown
        assert f"/outputfs/{prefix[1]}/" in result.shown
        assert result.backup_url == url[1]
        assert result.shown.endswith(shown[1])


def assert_archive_members(lab: Lab, runs: Runs) -> None:
    """Section 2's NFS `tar -tzf ... | grep` lists the run's directory and its `tar -xzf` names
    a member of the run's archive (the lab archive is ReaR's tar of /var/lib/barctl)."""
    _, controlplane, undercloud = runs
    section = next(body for heading, body in doc_sections().items() if heading.startswith("2."))
    checked = 0
    for node, run_id in (("ctl-0", controlplane), ("undercloud", undercloud)):
        for line in fenced(fill(section, nfs_values(lab, node, run_id))):
            words = shlex.split(line.split("|")[0])
            if words[:2] not in (["tar", "-tzf"], ["tar", "-xzf"]) or not words[2].startswith(
                EXPORT
            ):
                continue
            with tarfile.open(on_lab(lab, node, words[2])) as tar:
                names = tar.getnames()
            wanted = words[3:] or shlex.split(line.split("|")[1])[1:]
            for member in wanted:
                assert any(name.startswith(member) for name in names), (node, member)
                checked += 1
    assert checked >= 4


def assert_commands_work(runs: Runs) -> None:
    """`barctl history` and `barctl precheck` as the document gives them exit 0 on the lab."""
    policy = runs[0]
    commands = doc_commands()
    assert {words[0] for words in commands} <= {*RUN_HERE, *ELSEWHERE}
    ran = 0
    for words in commands:
        if words[0] in RUN_HERE:
            result = barctl(policy, *words)
            assert result.exit_code == 0, (words, result.stdout, result.stderr)
            ran += 1
    assert ran >= 4


def test_restore_md_holds_against_real_nfs_runs(lab: Lab, tmp_path: Path) -> None:
    """After a rolling control-plane and an undercloud run, restore.md's paths exist, its
    run-directory table is right, its ISO recovers its archive, the archive holds the members
    it names and its commands work."""
    runs = nfs_runs(lab, tmp_path)
    assert_paths_exist(lab, runs)
    assert_run_directory_table(lab, runs)
    assert_iso_recovers_named_archive(lab, runs)
    assert_archive_members(lab, runs)
    assert_commands_work(runs)


def test_the_sftp_iso_restore_md_names_holds_its_archive(lab: Lab, tmp_path: Path) -> None:
    """SFTP: the table's ISO `<path>/<node>/<run id>/<node>-<run id>.iso` is on the target and
    its rescue system reads the archive inside it at the table's path."""
    policy = sftp_policy(lab, tmp_path, ("undercloud",))
    run_id = run_backup(policy, "undercloud")
    iso_cell, archive_cell = files_table("SFTP")
    values = {"<node>": "undercloud", "<run id>": run_id, "<path>": SFTP_PATH}
    iso = on_lab(lab, "undercloud", fill(one_path(iso_cell), values))
    assert iso.is_file()
    result = lab.boot_and_recover("undercloud", iso)
    assert result.ok, result.message
    assert result.shown.endswith(f"/outputfs{one_path(archive_cell)}")
    sftp_values = {**values, "<export>": "/nfs-only"}
    assert check_paths(lab, "undercloud", sftp_values) == []
