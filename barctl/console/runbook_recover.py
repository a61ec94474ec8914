"""The runbook's files, ceph, boot-and-recover and pacemaker sections (guide 4.1, 4.2, 4.3).

Pure. Each section follows the vendor guide (`osp16.1-backup-and-restore-guide.txt` chapter 4)
with this run's names; barctl's differences are the ones docs/restore.md explains: the ISO
recovers this run's archive because ReaR carried `NETFS_PREFIX=<node>/<run id>` into its
`rescue.conf` (rescue/NETFS/default/600_store_NETFS_variables.sh); what the guide leaves to
the operator before the backup (ceph hooks, the config drive image) is checked where it applies.
"""

from __future__ import annotations

import shlex

from barctl.console.runbook import Section, Step, Subject, checksum_commands, fetch_commands
from barctl.run import rear_config

# The rescue system's boot menu entries (ReaR's isolinux/GRUB menus, guide 4.2 step 3).
UEFI_ENTRY = "Relax-and-Recover (no Secure Boot)"
# The guide's ceph hooks (4.1), run by the rescue system around `rear recover`.
CEPH_BACKUP_HOOK = "/usr/share/rear/setup/default/011_backup_ceph.sh"
CEPH_RESTORE_HOOK = "/usr/share/rear/wrapup/default/501_restore_ceph.sh"
CEPH_BACKUP_HOOK_TEXT = """\
mount -t <file_type> <device_disk> /mnt/local
cd /mnt/local
[ -d "var/lib/ceph" ] && tar cvfz /tmp/ceph.tar.gz var/lib/ceph --xattrs --xattrs-include='.' --acls
cd /
umount <device_disk>"""
CEPH_RESTORE_HOOK_TEXT = """\
if [ -f "/tmp/ceph.tar.gz" ]; then
  rm -rf /mnt/local/var/lib/ceph/*
  tar xvC /mnt/local -f /tmp/ceph.tar.gz var/lib/ceph --xattrs --xattrs-include='.'
fi"""


def _file_line(subject: Subject, kind: str, path: str) -> str:
    found = subject.file(kind)
    if found is None:
        return f"{kind}: {path}"
    return f"{kind}: {path} ({found.size_bytes} bytes, sha256 {found.sha256})"


def files_section(subject: Subject) -> Section:
    """Where this run's ISO, archive and restore material are on the backup node."""
    steps = [Step(_file_line(subject, "iso", subject.iso_path()))]
    archive = subject.archive_path()
    if archive is None:
        inside = f"inside the ISO at /backup/{subject.archive_name}"
        steps.append(Step(f"archive: {inside} (SFTP target: BACKUP_URL=iso:///backup)"))
    else:
        steps.append(Step(_file_line(subject, "archive", archive)))
    material = [item for item in subject.files if item.kind not in ("iso", "archive")]
    steps += [Step(_file_line(subject, item.kind, item.path)) for item in material]
    if subject.run_nodes and not subject.undercloud:
        nodes = ", ".join(subject.run_nodes)
        steps.append(Step(f"Restore every controller from this same run {subject.run_id}: {nodes}"))
    title = f"Files of run {subject.run_id} on {subject.backup_node} ({subject.backup_address})"
    return Section(
        "files", title, "guide 4.2/4.3: the ISO images are on the backup node", tuple(steps)
    )


def ceph_section(subject: Subject) -> Section:
    """The guide's ceph hooks, which barctl does not install: check, else create them."""
    steps = (
        Step(
            f"{subject.node} runs a ceph monitor: the guide's hooks keep its current monitor store"
            " across the restore (`barctl setup` writes them; a node set up before, or by hand,"
            " may lack them). In the rescue shell, before `rear recover`, check they are there",
            (f"ls -l {CEPH_BACKUP_HOOK} {CEPH_RESTORE_HOOK}",),
        ),
        Step(
            "If missing, create them (the rescue system runs from RAM). <file_type> is usually"
            " xfs and <device_disk> the root partition, e.g. /dev/vda2: read them from lsblk",
            (
                "lsblk -f",
                f"cat > {CEPH_BACKUP_HOOK} <<'EOF'\n{CEPH_BACKUP_HOOK_TEXT}\nEOF",
                f"cat > {CEPH_RESTORE_HOOK} <<'EOF'\n{CEPH_RESTORE_HOOK_TEXT}\nEOF",
            ),
        ),
        Step(
            "If /var/lib/ceph cannot be kept, contact Red Hat support to rebuild the ceph-mon"
            " store; this run's ceph auth export is " + _ceph_export(subject),
        ),
    )
    return Section("ceph", "Ceph monitor hooks", "guide 4.1", steps)


def _ceph_export(subject: Subject) -> str:
    found = subject.file("ceph_auth")
    return found.path if found is not None else "not on the target"


def _boot_steps(subject: Subject) -> list[Step]:
    iso = subject.iso_path()
    entry = f"Recover {subject.node}"
    if subject.uefi:
        entry = UEFI_ENTRY
    elif subject.uefi is None:
        entry += f" (UEFI: {UEFI_ENTRY})"
    found = subject.file("iso")
    check = (f"echo '{found.sha256}  <copied ISO>' | sha256sum -c -",) if found else ()
    whom = "the undercloud" if subject.undercloud else "every controller (each boots its own ISO)"
    return [
        Step(
            f"Copy the ISO {subject.backup_node}:{iso} to the console of {subject.node}"
            " (iLO/IPMI virtual media), or burn it; check the copy",
            check,
        ),
        Step(f"Power off {whom} completely"),
        Step(f"Boot {subject.node} from the ISO and select: {entry}"),
    ]


def _rescue_checks(subject: Subject) -> list[Step]:
    prefix = rear_config.run_prefix(subject.node, subject.run_id)
    url = subject.target.backup_url
    archive = subject.archive_path()
    shown = (
        f"outputfs/{prefix}/{subject.archive_name}"
        if archive is not None
        else f"/backup/{subject.archive_name} on the booted ISO"
    )
    return [
        Step(
            f"Log in as root. Check the rescue system recovers run {subject.run_id}: expect"
            f" NETFS_PREFIX={prefix} and BACKUP_URL={shlex.quote(url)}; a different run id"
            " means the wrong ISO: stop and boot the right one",
            (
                "grep NETFS_PREFIX /etc/rear/rescue.conf",
                "grep BACKUP_URL /etc/rear/local.conf",
            ),
        ),
        Step(
            f"Recover; ReaR prints `Using backup archive '...{shown}'` and ends with"
            " `Finished recovering your system`",
            ("rear recover",),
        ),
    ]


def _config_drive_steps(subject: Subject) -> list[Step]:
    if subject.undercloud:
        return []
    return [
        Step(
            "Config drive (guide 4.3 step 5; Controller role only). barctl images the partition"
            " labelled config-2 to /mnt/config-drive before each run, so it is in the archive;"
            " no image there means the node had none at backup time: skip this step."
            " <config_drive_partition> is the ISO9660 partition labelled config-2",
            (
                "ls -l /mnt/local/mnt/config-drive",
                "lsblk -f",
                "dd if=/mnt/local/mnt/config-drive of=<config_drive_partition>",
            ),
        )
    ]


def recover_section(subject: Subject) -> Section:
    """Boot the run's ISO, check it is this run, `rear recover`, power off, boot the disk."""
    steps = [*_boot_steps(subject), *_rescue_checks(subject), *_config_drive_steps(subject)]
    steps += [
        Step("Power off", ("poweroff",)),
        Step(f"Set {subject.node}'s boot order back to the local disk and power it on"),
    ]
    guide = "guide 4.2" if subject.undercloud else "guide 4.3"
    return Section("recover", f"Boot run {subject.run_id}'s ISO and recover", guide, tuple(steps))


def pacemaker_section(subject: Subject) -> Section:
    """After every controller is back: pacemaker's state, and this run's pcs config backup."""
    steps = [
        Step("On one controller, check pacemaker", ("sudo pcs status",)),
        Step(
            "Clear resource alarms and fencing errors it shows (the guide's `pcs resource"
            " clean` is pcs's `cleanup`)",
            ("sudo pcs resource cleanup", "sudo pcs stonith history cleanup"),
        ),
        Step("Validate the overcloud with tempest"),
    ]
    backup = subject.file("pacemaker_config")
    if backup is not None:
        local = subject.mounted(backup.path)
        steps.append(
            Step(
                "Only if the pacemaker configuration itself is wrong (not in the guide): restore"
                " this run's `pcs config backup`, with the cluster stopped",
                (
                    *fetch_commands(subject, (backup.path,)),
                    *checksum_commands(subject, ("pacemaker_config",)),
                    "sudo pcs cluster stop --all",
                    f"sudo pcs config restore {local}",
                    "sudo pcs cluster start --all",
                ),
            )
        )
    return Section("pacemaker", "Pacemaker after the restore", "guide 4.3 steps 8-9", tuple(steps))
