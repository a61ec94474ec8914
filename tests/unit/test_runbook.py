"""The restore runbook renderer: the guide's chapter 4 with one node's run filled in (pure)."""

from __future__ import annotations

import json

from barctl.console import runbook_output
from barctl.console.runbook import RunFile, Subject
from barctl.run.rear_config import RearTarget

NFS = RearTarget("nfs", "198.18.0.14", "/ctl_plane_backups")
SFTP = RearTarget("sftp", "198.18.0.14", "/srv/backups", "backup")
RUN = "20261130T023000Z-controlplane-3f2a"
MATERIAL = (
    ("database_dump", "openstack-backup-mysql.sql"),
    ("grants", "openstack-backup-mysql-grants.sql"),
    ("cib", "cib.xml"),
    ("pacemaker_config", "pacemaker_backup.tar.bz2"),
    ("ceph_auth", "ceph_auth_export.bak"),
)


def run_files(
    target: RearTarget, node: str, run_id: str, kinds: tuple[str, ...]
) -> tuple[RunFile, ...]:
    """The files a manifest lists for `node`'s run, as absolute paths on the backup node."""
    directory = f"{target.path}/{node}/{run_id}"
    files = [RunFile("iso", f"{directory}/{node}-{run_id}.iso", 4096, "a" * 64)]
    if target.scheme == "nfs":
        files.append(RunFile("archive", f"{directory}/backup.tar.gz", 8192, "b" * 64))
    for index, (kind, name) in enumerate(MATERIAL):
        if kind in kinds:
            digest = f"{index:x}" * 64
            files.append(RunFile(kind, f"{directory}/restore/{name}", 100 + index, digest))
    return tuple(files)


def controller(
    target: RearTarget = NFS, kinds: tuple[str, ...] = tuple(dict(MATERIAL)), **extra: object
) -> Subject:
    """ctl-0's run of the control plane with the given restore material."""
    fields: dict[str, object] = {
        "node": "ctl-0",
        "address": "198.18.0.11",
        "plan": "controlplane",
        "run_id": RUN,
        "target": target,
        "backup_node": "backup-0",
        "backup_address": "198.18.0.14",
        "archive_name": "backup.tar.gz",
        "files": run_files(target, "ctl-0", RUN, kinds),
        "run_nodes": ("ctl-0", "ctl-1", "ctl-2"),
    }
    fields.update(extra)
    return Subject(**fields)  # type: ignore[arg-type]


def undercloud(target: RearTarget = NFS) -> Subject:
    """The undercloud's run with its database dump."""
    run_id = "20261130T013000Z-undercloud-0b1c"
    files = run_files(target, "undercloud", run_id, ("database_dump",))
    return Subject(
        "undercloud", "198.18.0.10", "undercloud", run_id, target, "backup-0", "198.18.0.14",
        "backup.tar.gz", files,
    )  # fmt: skip


def text_of(subject: Subject) -> str:
    """The runbook as printed."""
    return runbook_output.to_text(runbook_output.build(subject))


def test_controller_runbook_names_this_runs_iso_archive_and_rescue_checks() -> None:
    """A controller's runbook names its ISO, the archive `rear recover` fetches and the values
    the rescue system must show for this run."""
    text = text_of(controller())
    directory = f"/ctl_plane_backups/ctl-0/{RUN}"
    assert f"backup-0:{directory}/ctl-0-{RUN}.iso" in text
    assert f"archive: {directory}/backup.tar.gz (8192 bytes, sha256 {'b' * 64})" in text
    assert f"NETFS_PREFIX=ctl-0/{RUN}" in text
    assert "BACKUP_URL=nfs://198.18.0.14/ctl_plane_backups" in text
    assert f"outputfs/ctl-0/{RUN}/backup.tar.gz" in text
    assert "$ rear recover" in text
    assert "dd if=/mnt/local/mnt/config-drive" in text
    assert "Restore every controller from this same run" in text and "ctl-0, ctl-1, ctl-2" in text


def test_controller_galera_restore_uses_this_runs_dump_and_grants() -> None:
    """Guide 4.4 fetches this run's dump and grants from the target, checks their sha256 and
    loads them on this node as Controller-0."""
    text = text_of(controller())
    restore = f"/mnt/barctl-target/ctl-0/{RUN}/restore"
    assert "sudo mount -t nfs -o ro 198.18.0.14:/ctl_plane_backups /mnt/barctl-target" in text
    assert f"echo '{'0' * 64}  {restore}/openstack-backup-mysql.sql' | sudo sha256sum -c -" in text
    assert (
        f"sudo install -o 42434 -g 42434 -m 0600 {restore}/openstack-backup-mysql-grants.sql"
        " /var/lib/mysql/" in text
    )
    assert "Controller-0 (ctl-0): load the dump, then the grants" in text
    assert f"sudo pcs config restore {restore}/pacemaker_backup.tar.bz2" in text


def test_ceph_hooks_section_only_on_a_ceph_monitor() -> None:
    """The guide's 4.1 hooks check appears for a node whose run exported ceph auth, only."""
    with_monitor = runbook_output.build(controller())
    without = runbook_output.build(controller(kinds=("database_dump", "grants")))
    assert [section.key for section in with_monitor.sections] == [
        "files",
        "ceph",
        "recover",
        "pacemaker",
        "galera",
    ]
    assert "ceph" not in [section.key for section in without.sections]
    assert "011_backup_ceph.sh" in runbook_output.to_text(with_monitor)


def test_controller_without_a_dump_points_to_the_one_that_has_it() -> None:
    """An offline run's other controllers have no dump: their galera section says so instead
    of naming files that do not exist."""
    text = text_of(controller(kinds=("cib",)))
    assert "has no database dump or grants of ctl-0" in text
    assert "openstack-backup-mysql.sql" not in text


def test_undercloud_runbook_is_guide_4_2_and_4_5_as_root() -> None:
    """The undercloud gets 4.2 and 4.5 with its run's dump, as root, and no controller steps."""
    subject = undercloud()
    book = runbook_output.build(subject)
    assert [section.key for section in book.sections] == [
        "files",
        "recover",
        "undercloud_database",
    ]
    text = runbook_output.to_text(book)
    restore = f"/mnt/barctl-target/undercloud/{subject.run_id}/restore"
    assert "mount -t nfs -o ro 198.18.0.14:/ctl_plane_backups /mnt/barctl-target" in text
    assert f"install -o 42434 -g 42434 -m 0600 {restore}/openstack-backup-mysql.sql" in text
    assert "sudo " not in text
    assert "config-drive" not in text
    assert "Power off the undercloud completely" in text


def test_sftp_runbook_reads_the_archive_inside_the_iso_and_fetches_with_sftp() -> None:
    """SFTP: recover reads iso:///backup, the archive has no path of its own, and restore
    material is fetched with sftp as the policy's user."""
    book = runbook_output.build(controller(SFTP))
    text = runbook_output.to_text(book)
    document = runbook_output.to_json(book)
    assert "inside the ISO at /backup/backup.tar.gz" in text
    assert "BACKUP_URL=iso:///backup" in text
    dump = f"/srv/backups/ctl-0/{RUN}/restore/openstack-backup-mysql.sql"
    assert f"sudo sftp backup@198.18.0.14:{dump} ." in text
    assert document["recover"]["archive_path"] is None
    assert document["recover"]["archive_in_iso"] == "/backup/backup.tar.gz"


def test_uefi_run_selects_the_no_secure_boot_entry() -> None:
    """A run taken on UEFI firmware boots the guide's `Relax-and-Recover (no Secure Boot)`."""
    assert "select: Relax-and-Recover (no Secure Boot)" in text_of(controller(uefi=True))
    assert "select: Recover ctl-0\n" in text_of(controller(uefi=False))


def test_json_is_versioned_and_lists_every_path_on_the_target() -> None:
    """`--json` is schema barctl.restore-runbook/1, round-trips through json, and
    `paths_on_target` holds the ISO, the archive and every restore file, each also named in the
    text."""
    book = runbook_output.build(controller())
    document = json.loads(json.dumps(runbook_output.to_json(book)))
    assert document["schema"] == "barctl.restore-runbook/1"
    assert document["role"] == "controller"
    assert document["ceph_monitor"] is True
    assert document["recover"]["netfs_prefix"] == f"ctl-0/{RUN}"
    paths = document["paths_on_target"]
    assert len(paths) == 7
    assert {item["path"] for item in document["files"]} == set(paths)
    text = runbook_output.to_text(book)
    assert all(path in text for path in paths)
    assert document["sections"][0]["key"] == "files"
