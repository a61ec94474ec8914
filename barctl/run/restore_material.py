"""Which restore material each node leaves in its run directory (`/var/lib/barctl/<run_id>`).

Pure. The file names the plan's commands write (plan.py), and which node makes which in each
mode: the verifier checks the dump's trailer, and the material is copied beside the node's
artifacts on the target (manifest.RESTORE_MATERIAL gives each its kind), so the guide's 4.4
(galera) and 4.5 (pacemaker, ceph) manual restores start from files, not from a tar extraction.
"""

from __future__ import annotations

from barctl.model import Node, NodeFacts

DATABASE_DUMP = "openstack-backup-mysql.sql"
GRANTS = "openstack-backup-mysql-grants.sql"
CIB = "cib.xml"
PACEMAKER_BACKUP = "pacemaker_backup"  # `pcs config backup` adds .tar.bz2
CEPH_AUTH = "ceph_auth_export.bak"


def material(
    *, database: bool = False, pacemaker: bool = False, ceph: bool = False
) -> tuple[str, ...]:
    """The restore material a node leaves in its run directory: dump and grants (galera),
    `pcs config backup` and the CIB (pacemaker), the ceph auth export (a monitor)."""
    names = [DATABASE_DUMP, GRANTS] if database else []
    names += [f"{PACEMAKER_BACKUP}.tar.bz2", CIB] if pacemaker else []
    return tuple(names + ([CEPH_AUTH] if ceph else []))


def offline_material(
    nodes: tuple[Node, ...], facts: dict[str, NodeFacts]
) -> dict[str, tuple[str, ...]]:
    """Offline: the first galera node dumps, the first pacemaker member backs up the cluster
    configuration (_database_phases, _cluster_phases), every monitor exports ceph auth."""
    galera = [node.name for node in nodes if facts[node.name].galera_container() is not None]
    members = [node.name for node in nodes if facts[node.name].pacemaker_member]
    return {
        node.name: material(
            database=galera[:1] == [node.name],
            pacemaker=members[:1] == [node.name],
            ceph=facts[node.name].has_ceph_monitor(node.name),
        )
        for node in nodes
    }
