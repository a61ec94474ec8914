"""Each node's desired set-up from the policy and its probed facts, and the commands that bring
a node there from its differences. Pure (setup_state has the items and the diff)."""

from __future__ import annotations

from dataclasses import dataclass, field

from barctl.model import Firmware
from barctl.run import ceph_hooks, rear_config, setup_commands, setup_state
from barctl.run.ceph_hooks import CephMount
from barctl.run.commands import RemoteCommand
from barctl.run.rear_config import RearSettings, RearTarget
from barctl.run.setup_state import Desired, Difference, KnownHost


@dataclass(frozen=True)
class NodeInputs:
    """What one node's set-up depends on: its role, facts probed on it, and the policy's part.

    `rear` is False for a node that is only the NFS backup node; `export` is (directory,
    client addresses) on the NFS backup node; `ceph` the file system of /var/lib/ceph on a
    ceph monitor node.
    """

    name: str
    rear: bool = True
    firmware: Firmware = "unknown"
    settings: RearSettings = field(default_factory=RearSettings)
    ceph: CephMount | None = None
    packages: bool = True
    export: tuple[str, tuple[str, ...]] | None = None
    known_hosts: tuple[KnownHost, ...] = ()


def desired(target: RearTarget, inputs: NodeInputs) -> Desired:
    """Everything setup wants on the node: ReaR's set-up where ReaR runs, the export where the
    NFS backup node serves it (both on an undercloud that is its own NFS server)."""
    packages: tuple[str, ...] = ()
    files: list[setup_state.ManagedFile] = []
    directories: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    if inputs.rear:
        packages = setup_state.packages_for(inputs.firmware)
        absent = (setup_state.CRON_FILE,)
        content = rear_config.render_local_conf(target, inputs.settings, inputs.firmware)
        files.append(setup_state.local_conf(content))
        if inputs.ceph is not None:
            files += ceph_hooks.hook_files(inputs.ceph)
    if inputs.export is not None:
        directory, clients = inputs.export
        packages += tuple(p for p in setup_state.NFS_SERVER_PACKAGES if p not in packages)
        files.append(setup_state.exports_file(directory, clients))
        directories = (directory,)
    export = inputs.export
    return Desired(
        inputs.name,
        packages if inputs.packages else (),
        absent,
        tuple(files),
        inputs.known_hosts if inputs.rear else (),
        directories,
        export,
    )


def repairs(
    wanted: Desired, differences: tuple[Difference, ...], timeout: int
) -> tuple[RemoteCommand, ...]:
    """The commands that remove `differences`, in order: one `dnf install` for every missing
    package, removals, directories, files, known_hosts; `exportfs -ra` after the export file."""
    missing = tuple(d.item.removeprefix("package ") for d in differences if d.kind == "package")
    found: list[RemoteCommand] = []
    if missing:
        found.append(setup_commands.install_packages(missing))
    files = {item.path: item for item in wanted.files}
    for difference in differences:
        if difference.kind == "absent":
            found.append(setup_commands.remove_file(difference.item, timeout))
        elif difference.kind == "directory":
            found.append(setup_commands.make_directory(difference.item, timeout))
    for difference in differences:
        if difference.kind == "file":
            item = files[difference.item]
            found.append(setup_commands.write_file(item, rear_config.MANAGED_MARK, timeout))
    lines = tuple(d.addition for d in differences if d.kind == "known_hosts")
    if lines:
        found.append(setup_commands.add_root_known_hosts(lines, timeout))
    if any(d.item == setup_state.EXPORTS_FILE or d.kind == "export" for d in differences):
        found.append(setup_commands.reload_exports(timeout))
    return tuple(found)
