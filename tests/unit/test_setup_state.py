"""`barctl setup`'s desired state, the pure diff, the repairs and the 4.1 ceph hooks."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from barctl.model import CommandResult, Node
from barctl.run import ceph_hooks, gate_probe, reachability, setup, setup_plan, setup_state
from barctl.run.commands import RemoteCommand
from barctl.run.plan import BackupTarget, Timeouts
from barctl.run.rear_config import LOCAL_CONF, RearTarget, render_local_conf
from barctl.run.resolution import Resolved
from barctl.run.runner import LineCallback
from barctl.run.setup_state import Desired, KnownHost, ManagedFile, Probed
from tests.fakes import FakeRunner, failed, ok, unreachable

NFS = RearTarget("nfs", "192.0.2.250", "/ctl_plane_backups")
KEY = KnownHost("192.0.2.250", "ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIlab")


def test_first_difference_names_the_line_and_both_texts() -> None:
    """The first differing line is numbered from 1 with the node's and barctl's line."""
    assert setup_state.first_difference("a\nb\nc\n", "a\nB\nc\n") == (2, "b", "B")
    assert setup_state.first_difference("a\n", "a\nb\n") == (2, "", "b")
    assert setup_state.first_difference("same\n", "same\n") is None


def test_clean_node_has_no_difference() -> None:
    """A node holding every desired item yields no difference at all."""
    wanted = Desired(
        "ctl-0",
        ("rear",),
        ("/etc/cron.d/rear",),
        (ManagedFile(LOCAL_CONF, "0600", "x\n"),),
        (KEY,),
        ("/ctl_plane_backups",),
    )
    have = Probed(
        "ctl-0",
        frozenset({"rear"}),
        frozenset(),
        {LOCAL_CONF: "x\n"},
        f"other ssh-rsa AAAA\n{KEY.host},backup-0 {KEY.key_type} {KEY.key}\n",
        frozenset({"/ctl_plane_backups"}),
    )
    assert setup_state.diff(wanted, have) == ()


def test_every_kind_of_drift_is_listed_with_node_item_and_line() -> None:
    """Missing package, present cron file, missing directory, edited file, unknown host key."""
    wanted = Desired(
        "ctl-1",
        ("rear", "lftp"),
        ("/etc/cron.d/rear",),
        (ManagedFile(LOCAL_CONF, "0600", "# header\nOUTPUT=ISO\n"),),
        (KEY,),
        ("/ctl_plane_backups",),
    )
    have = Probed(
        "ctl-1",
        frozenset({"rear"}),
        frozenset({"/etc/cron.d/rear"}),
        {LOCAL_CONF: "# header\nOUTPUT=USB\n"},
        f"{KEY.host} ssh-rsa AAAAother\n",
    )
    found = setup_state.diff(wanted, have)
    assert [d.describe() for d in found] == [
        "ctl-1: package lftp: not installed",
        "ctl-1: /etc/cron.d/rear: exists, must be removed",
        "ctl-1: /ctl_plane_backups: missing",
        "ctl-1: /etc/rear/local.conf: line 2 is 'OUTPUT=USB', barctl's is 'OUTPUT=ISO'",
        "ctl-1: root's known_hosts: lacks 192.0.2.250's ssh-ed25519 key",
    ]
    assert found[3].line == 2
    assert found[4].addition == KEY.line


def test_missing_file_is_a_difference() -> None:
    """A file the node does not have is reported missing."""
    wanted = Desired("ctl-0", files=(ManagedFile(LOCAL_CONF, "0600", "x\n"),))
    (difference,) = setup_state.diff(wanted, Probed("ctl-0", contents={LOCAL_CONF: None}))
    assert (difference.item, difference.detail) == (LOCAL_CONF, "missing")


def test_rpm_answer_is_read_line_by_line() -> None:
    """ "package lftp is not installed" does not count lftp as installed (rpm -q's wording)."""
    text = "rear\npackage lftp is not installed\nsyslinux\n"
    assert setup_state.installed_names(text, ("rear", "lftp", "syslinux")) == {"rear", "syslinux"}


def test_uefi_nodes_also_get_dosfstools_and_efibootmgr() -> None:
    """UEFI adds the two UEFI tools to ReaR's packages; BIOS does not."""
    assert setup_state.packages_for("uefi")[-2:] == ("dosfstools", "efibootmgr")
    assert "efibootmgr" not in setup_state.packages_for("bios")


def test_export_names_each_client_never_everyone() -> None:
    """The export file lists each address with the vendor's options, and no `*`."""
    item = setup_state.exports_file("/ctl_plane_backups", ("192.0.2.11", "192.0.2.10"))
    line = item.content.splitlines()[1]
    assert line == (
        "/ctl_plane_backups 192.0.2.10(rw,sync,no_root_squash,no_subtree_check)"
        " 192.0.2.11(rw,sync,no_root_squash,no_subtree_check)"
    )
    assert "*" not in item.content


def test_desired_backup_node_serves_the_export_and_runs_no_rear() -> None:
    """The NFS backup node gets nfs-utils, the export file and the directory, no local.conf."""
    inputs = setup_plan.NodeInputs("backup-0", rear=False, export=("/b", ("192.0.2.10",)))
    wanted = setup_plan.desired(NFS, inputs)
    assert wanted.packages == ("nfs-utils",)
    assert [f.path for f in wanted.files] == [setup_state.EXPORTS_FILE]
    assert wanted.directories == ("/b",) and wanted.absent == ()


def test_desired_rear_node_without_packages_and_with_ceph() -> None:
    """--no-packages leaves packages out; a ceph mount adds both 4.1 hooks after local.conf."""
    mount = ceph_hooks.CephMount("/dev/vda2", "xfs", "/")
    inputs = setup_plan.NodeInputs("ctl-0", firmware="bios", ceph=mount, packages=False)
    wanted = setup_plan.desired(NFS, inputs)
    assert wanted.packages == ()
    assert [f.path for f in wanted.files] == [
        LOCAL_CONF,
        ceph_hooks.BACKUP_HOOK,
        ceph_hooks.RESTORE_HOOK,
    ]
    assert wanted.files[0].content == render_local_conf(NFS, inputs.settings, "bios")
    assert wanted.absent == ("/etc/cron.d/rear",)


def test_repairs_install_once_and_reload_exports_after_the_file() -> None:
    """One dnf for every missing package first; exportfs -ra after the export file is written."""
    inputs = setup_plan.NodeInputs("uc", export=("/b", ("192.0.2.10",)), known_hosts=(KEY,))
    wanted = setup_plan.desired(NFS, inputs)
    found = setup_state.diff(wanted, Probed("uc", frozenset({"rear"})))
    commands = setup_plan.repairs(wanted, found, 30)
    names = [c.name for c in commands]
    assert names == [
        "install_packages",
        "make_directory",
        "write_file",
        "write_file",
        "add_root_known_hosts",
        "reload_exports",
    ]
    assert commands[0].argv == ("dnf", "-y", "install", "syslinux", "genisoimage", "nfs-utils",
                                "lftp")  # fmt: skip
    assert commands[4].stdin == KEY.line + "\n"
    assert all(c.changes_state for c in commands)


def test_local_conf_write_keeps_the_original_once() -> None:
    """The local.conf write names local.conf.before-barctl and barctl's header."""
    inputs = setup_plan.NodeInputs("ctl-0", packages=False)
    wanted = setup_plan.desired(NFS, inputs)
    found = setup_state.diff(wanted, Probed("ctl-0", contents={LOCAL_CONF: "vendor\n"}))
    (write,) = setup_plan.repairs(wanted, found, 30)
    assert write.argv[4:7] == (LOCAL_CONF, "0600", "/etc/rear/local.conf.before-barctl")
    assert write.argv[7] == "# Managed by barctl"
    assert write.stdin == wanted.files[0].content


def test_ceph_hooks_follow_a_separate_var_mount() -> None:
    """/var its own mount: tar paths are lib/ceph, the restore extracts into /mnt/local/var."""
    mount = ceph_hooks.parse_findmnt("/dev/mapper/vg-var xfs /var\n")
    backup, restore = ceph_hooks.hook_files(mount)
    assert "mount -t xfs /dev/mapper/vg-var /mnt/local\n" in backup.content
    assert "[ -d lib/ceph ] && tar cvfz /tmp/ceph.tar.gz lib/ceph " in backup.content
    assert "tar xvC /mnt/local/var -f /tmp/ceph.tar.gz lib/ceph " in restore.content
    assert "rm -rf /mnt/local/var/lib/ceph/*" in restore.content


def test_ceph_hooks_on_the_root_file_system_use_the_guides_paths() -> None:
    """/var/lib/ceph on / (the guide's /dev/vda2 xfs): var/lib/ceph, extracted into /mnt/local."""
    backup, restore = ceph_hooks.hook_files(ceph_hooks.parse_findmnt("/dev/vda2 xfs /\n"))
    assert "tar cvfz /tmp/ceph.tar.gz var/lib/ceph " in backup.content
    assert "umount /dev/vda2\n" in backup.content
    assert "tar xvC /mnt/local -f /tmp/ceph.tar.gz var/lib/ceph " in restore.content


@pytest.mark.parametrize(
    "text", ["", "/dev/vda2 xfs", "tmpfs tmpfs /", "/dev/sda2[/@] btrfs /", "/dev/vdb xfs /srv"]
)
def test_unreadable_ceph_mount_is_refused(text: str) -> None:
    """No device, a subvolume, or a mount not holding /var/lib/ceph: no hook is guessed."""
    with pytest.raises(ceph_hooks.MountUnreadable):
        ceph_hooks.parse_findmnt(text)


def _resolved(scheme: str = "nfs") -> Resolved:
    rear = NFS if scheme == "nfs" else RearTarget("sftp", "192.0.2.250", "/b", "backup")
    backup = Node("backup-0", "192.0.2.250", "root")
    target = BackupTarget(backup, rear.path, rear)
    nodes = (Node("ctl-0", "192.0.2.10", "root"),)
    return Resolved("controlplane", "rolling", nodes, target, Timeouts(30, 30, 30, 30, 30))


def _node_answers(installed: str, conf: CommandResult) -> FakeRunner:
    return FakeRunner(
        {
            "firmware": failed(1, ""),
            "container_names": ok("nova_api\n"),
            "installed_packages": ok(installed),
            "path_exists": failed(1, ""),
            ("ctl-0", "read_file"): conf,
            ("backup-0", "read_file"): failed(100, ""),
        }
    )


def test_check_mode_probes_and_changes_nothing() -> None:
    """--check on a drifted node reads only: no command that changes state runs."""
    request = setup.Request(_resolved(), ("192.0.2.10",), packages=True, apply=False)
    runner = _node_answers("rear\n", failed(100, ""))
    reports = setup.set_up(request, runner, 2)
    assert {r.node for r in reports} == {"ctl-0", "backup-0"}
    assert all(r.differences and not r.problem and not r.applied for r in reports)
    changing = {"install_packages", "write_file", "remove_file", "reload_exports", "make_directory"}
    assert not changing & set(runner.ran())


def test_apply_runs_only_the_repairs_of_the_differences() -> None:
    """A node whose only drift is local.conf gets exactly one write and nothing else."""
    request = setup.Request(_resolved(), ("192.0.2.10",), packages=False, apply=True)
    conf = render_local_conf(NFS, setup_plan.NodeInputs("ctl-0").settings, "bios")
    runner = _node_answers("", ok(conf.replace("gzip", "xz")))
    (node,) = [r for r in setup.set_up(request, runner, 1) if r.node == "ctl-0"]
    assert node.applied and [d.item for d in node.differences] == [LOCAL_CONF]
    assert runner.ran("ctl-0")[-1] == "write_file"
    assert runner.ran("ctl-0").count("write_file") == 1


def test_failed_repair_names_the_node_and_command() -> None:
    """A dnf that fails ends that node's set-up with the command and dnf's last line."""
    request = setup.Request(_resolved(), ("192.0.2.10",), packages=True, apply=True)
    runner = _node_answers("rear\n", failed(100, ""))
    runner.script = {
        **runner.script,
        "install_packages": failed(1, "Error: Unable to find a match"),
    }
    (node,) = [r for r in setup.set_up(request, runner, 1) if r.node == "ctl-0"]
    assert node.problem == "install_packages failed: Error: Unable to find a match"


def test_sftp_nodes_want_the_servers_key_and_no_export() -> None:
    """With SFTP every plan node wants the server's key; no backup node is set up."""
    request = setup.Request(_resolved("sftp"), known_hosts=(KEY,))
    work = setup.node_inputs(request)
    assert [node.name for node, _ in work] == ["ctl-0"]
    assert work[0][1].known_hosts == (KEY,) and work[0][1].export is None


def test_gate_judges_local_conf_line_by_line() -> None:
    """The gate's local.conf judgement: missing, or the first differing line, with the fix."""
    want = render_local_conf(NFS, setup_plan.NodeInputs("ctl-0").settings, "bios")
    assert setup_state.local_conf_problem(want, want) == ""
    assert setup_state.local_conf_problem(None, want) == (
        "/etc/rear/local.conf is missing: run `barctl setup`"
    )
    drifted = want.replace('OUTPUT="ISO"', 'OUTPUT="USB"')
    assert setup_state.local_conf_problem(drifted, want) == (
        "/etc/rear/local.conf differs from barctl's at line 3 ('OUTPUT=\"USB\"', barctl's"
        " 'OUTPUT=\"ISO\"'): run `barctl setup`"
    )


@dataclass
class WatchingRunner(FakeRunner):
    """A FakeRunner that also notes every command that would change state."""

    changed: list[str] = field(default_factory=list)

    def run(
        self,
        node: Node,
        command: RemoteCommand,
        on_line: LineCallback | None = None,
        abort: threading.Event | None = None,
    ) -> CommandResult:
        """The scripted answer; a state-changing command is noted first."""
        if command.changes_state:
            self.changed.append(command.name)
        return super().run(node, command, on_line, abort)


def test_gate_refuses_a_drifted_local_conf_as_a_configuration_problem() -> None:
    """probe_node with the target reads local.conf (read-only) and adds the drift to the node's
    set-up problems; without the target it does not read it."""
    node = Node("ctl-0", "192.0.2.10", "root")
    runner = WatchingRunner(
        {
            "rear_version": ok("Relax-and-Recover 2.6 / 2020-06-17"),
            "cron_file_absent": ok(),
            "firmware": failed(1, ""),
            "read_file": ok("# not barctl's\n"),
            "offered_exports": ok(
                "Export list for 192.0.2.250:\n/ctl_plane_backups 192.0.2.0/24\n"
            ),
        }
    )
    probe = gate_probe.probe_node(runner, node, pacemaker=False, timeout=5, target=NFS)
    assert probe.setup_problems == (
        "/etc/rear/local.conf differs from barctl's at line 1 (\"# not barctl's\", barctl's"
        " '# Managed by barctl: written by `barctl setup` from the barctl policy.'):"
        " run `barctl setup`",
    )
    assert "read_file" in runner.ran() and "offered_exports" in runner.ran()
    assert not runner.changed
    plain = FakeRunner({"rear_version": ok("Relax-and-Recover 2.6")})
    assert not gate_probe.probe_node(plain, node, pacemaker=False, timeout=5).setup_problems
    assert "read_file" not in plain.ran()


SHOWMOUNT = (
    "Export list for 192.0.2.250:\n"
    "/ctl_plane_backups 192.0.2.10,192.0.2.11\n"
    "/srv/other         (everyone)\n"
)


def test_export_offered_to_the_nodes_address_or_network_passes() -> None:
    """The export listed for the node's address, a network holding it, or everyone: no problem."""
    assert reachability.export_problem(SHOWMOUNT, "/ctl_plane_backups", "s", "192.0.2.11") == ""
    assert reachability.export_problem(SHOWMOUNT, "/srv/other", "s", "192.0.2.99") == ""
    net = "Export list for s:\n/b 192.0.2.0/24\n"
    assert reachability.export_problem(net, "/b", "s", "192.0.2.99") == ""


def test_export_missing_or_for_other_clients_is_named() -> None:
    """No such export, or one for other clients only: the reason says which and what to run."""
    assert reachability.export_problem(SHOWMOUNT, "/b", "s", "192.0.2.10") == (
        "s does not export /b (showmount -e offers /ctl_plane_backups, /srv/other):"
        " run `barctl setup`"
    )
    assert reachability.export_problem(SHOWMOUNT, "/ctl_plane_backups", "s", "192.0.2.12") == (
        "s:/ctl_plane_backups is not exported to 192.0.2.12 (only to 192.0.2.10,192.0.2.11):"
        " run `barctl setup`"
    )


def test_gate_asks_sftp_login_as_lftp_would_and_names_the_failure() -> None:
    """SFTP: the gate runs root's ssh with BatchMode for the policy's user and names ssh's
    reason when it fails; NFS is not asked."""
    node = Node("ctl-0", "192.0.2.10", "root")
    sftp = RearTarget("sftp", "192.0.2.250", "/b", "backup")
    conf = render_local_conf(sftp, setup_plan.NodeInputs("ctl-0").settings, "bios")
    denied = failed(255, "backup@192.0.2.250: Permission denied (publickey).")
    runner = FakeRunner(
        {
            "rear_version": ok("Relax-and-Recover 2.6 / 2020-06-17"),
            "firmware": failed(1, ""),
            "read_file": ok(conf),
            "sftp_login": denied,
        }
    )
    probe = gate_probe.probe_node(runner, node, pacemaker=False, timeout=5, target=sftp)
    assert probe.setup_problems == (
        "cannot log in to the SFTP target as backup@192.0.2.250 without a prompt"
        " (backup@192.0.2.250: Permission denied (publickey).): root's key must be authorized"
        " there and root's known_hosts must know it (`barctl setup` seeds known_hosts)",
    )
    (login,) = [call for call in runner.calls if call.name == "sftp_login"]
    assert login.argv[:6] == ("ssh", "-n", "-a", "-x", "-o", "BatchMode=yes")
    assert login.argv[-5:] == ("backup", "-s", "--", "192.0.2.250", "sftp")
    assert "offered_exports" not in runner.ran()


def test_undercloud_that_is_its_own_nfs_server_is_set_up_once_with_both_roles() -> None:
    """The target node being a plan node (the guide's undercloud NFS server) is one entry that
    runs ReaR and serves the export."""
    resolved = _resolved()
    undercloud = Node("backup-0", "192.0.2.250", "root")
    merged = Resolved("undercloud", "live", (undercloud,), resolved.target, resolved.timeouts)
    work = setup.node_inputs(setup.Request(merged, ("192.0.2.250",)))
    assert [(node.name, inputs.rear) for node, inputs in work] == [("backup-0", True)]
    wanted = setup_plan.desired(NFS, work[0][1])
    assert [f.path for f in wanted.files] == [LOCAL_CONF, setup_state.EXPORTS_FILE]
    assert wanted.packages.count("nfs-utils") == 1


def test_unreachable_node_is_named_and_nothing_is_tried() -> None:
    """A node that cannot be reached fails its set-up with the runner's reason, no repair run."""
    request = setup.Request(_resolved(), ("192.0.2.10",), apply=True)
    runner = FakeRunner({("ctl-0", "firmware"): unreachable()})
    (node,) = [r for r in setup.set_up(request, runner, 1) if r.node == "ctl-0"]
    assert node.problem == "firmware: connect timeout: scripted"
    assert runner.ran("ctl-0") == ["firmware"]


def test_stale_export_table_is_drift_repaired_by_exportfs_alone() -> None:
    """The export file is right but mountd offers an older table: one difference per client
    not offered, repaired by `exportfs -ra` only (no rewrite)."""
    inputs = setup_plan.NodeInputs(
        "backup-0", rear=False, packages=False, export=("/b", ("192.0.2.10", "192.0.2.11"))
    )
    wanted = setup_plan.desired(NFS, inputs)
    have = Probed(
        "backup-0",
        contents={setup_state.EXPORTS_FILE: wanted.files[0].content},
        directories=frozenset({"/b"}),
        offered="Export list for 192.0.2.250:\n/b 192.0.2.10\n",
    )
    found = setup_state.diff(wanted, have)
    assert [d.describe() for d in found] == [
        "backup-0: live NFS exports (showmount -e): /b not offered to 192.0.2.11"
    ]
    assert [c.name for c in setup_plan.repairs(wanted, found, 30)] == ["reload_exports"]
    live = Probed("backup-0", contents=have.contents, directories=have.directories,
                  offered="Export list for s:\n/b 192.0.2.10,192.0.2.11\n")  # fmt: skip
    assert setup_state.diff(wanted, live) == ()
