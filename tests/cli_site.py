"""A site for the CLI tests: the train inventory, an SSH key and a known_hosts file in one
directory, and a valid policy naming them (`DIRECTORY` stands for that directory)."""

from __future__ import annotations

from pathlib import Path

TRAIN_INVENTORY = Path(__file__).resolve().parent / "data" / "inventory" / "train_single.yaml"
VALID_POLICY = """\
inventory:
  path: inventory.yaml
undercloud:
  address: 192.0.2.1
backup_target:
  nfs: {server: 192.0.2.250, export: /ctl_plane_backups}
plans:
  undercloud: {schedule: "30 1 * * *"}
  controlplane: {schedule: "30 2 * * sun", groups: [Controller, Database]}
ssh:
  private_key: DIRECTORY/id_ed25519
  known_hosts: DIRECTORY/known_hosts
state_directory: DIRECTORY/state
"""


def write_site(directory: Path) -> Path:
    """`directory` holding a copy of the train inventory, an SSH key and a known_hosts file."""
    (directory / "inventory.yaml").write_text(TRAIN_INVENTORY.read_text())
    (directory / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (directory / "known_hosts").write_text("192.0.2.1 ssh-ed25519 AAAA\n")
    return directory


def write_policy(directory: Path, body: str = VALID_POLICY) -> Path:
    """`body` as directory/policy.yaml, DIRECTORY replaced, beside the site it names."""
    write_site(directory)
    path = directory / "policy.yaml"
    path.write_text(body.replace("DIRECTORY", str(directory)))
    return path
