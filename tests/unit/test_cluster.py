"""Pacemaker and galera status parsing and judgement, against real crm_mon output."""

from __future__ import annotations

from pathlib import Path

import pytest

from barctl.run import cluster

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "pacemaker"


def sample(name: str) -> str:
    """A crm_mon output under tests/data/pacemaker (each file cites its upstream source)."""
    return (SAMPLES / name).read_text()


def flipped(text: str, node: str, attribute: str) -> str:
    """The real sample with one boolean attribute of one <node> set to true."""
    start = text.index(f'<node name="{node}"')
    end = text.index(">", start)
    element = text[start:end].replace(f' {attribute}="false"', f' {attribute}="true"', 1)
    return text[:start] + element + text[end:]


@pytest.mark.parametrize(
    "name", ["crm_mon-2.0.5.xml", "crm_mon-2.1.7.xml", "crm_mon-2.0.5-legacy.xml"]
)
def test_real_output_reads_members_online_and_quorum(name: str) -> None:
    """Pacemaker 2.0.5 and 2.1.7 output (and the legacy root): two members online, quorate."""
    status = cluster.parse_pacemaker_status(sample(name))
    assert dict(status.states) == {"cluster01": "online", "cluster02": "online"}
    assert status.quorate and not status.problem and not status.maintenance_mode


def test_bundle_and_remote_nodes_are_not_members() -> None:
    """Guest nodes (type="remote", e.g. httpd-bundle-2 offline) never count as cluster members."""
    status = cluster.parse_pacemaker_status(sample("crm_mon-2.1.7.xml"))
    assert "httpd-bundle-2" not in status.members
    assert cluster.pacemaker_problems(status, status.members) == []


def test_real_maintenance_node_is_maintenance() -> None:
    """2.1.7's "maintenance enabled for a node" sample: cluster02 is in maintenance."""
    status = cluster.parse_pacemaker_status(sample("crm_mon-2.1.7-maintenance.xml"))
    assert status.states["cluster02"] == cluster.MAINTENANCE
    assert status.states["cluster01"] == cluster.ONLINE


def test_real_offline_node_and_cluster_maintenance_mode() -> None:
    """2.1.7's offline-node sample: cluster02 offline, and maintenance-mode=true refuses."""
    status = cluster.parse_pacemaker_status(sample("crm_mon-2.1.7-offline.xml"))
    assert status.states["cluster02"] == cluster.OFFLINE
    assert status.maintenance_mode
    assert cluster.pacemaker_problems(status, frozenset({"cluster01", "cluster02"})) == [
        "pacemaker cluster is in maintenance-mode",
        "cluster02 is offline in pacemaker, not online",
    ]


@pytest.mark.parametrize(
    ("attribute", "state"),
    [
        ("standby", "standby"),
        ("standby_onfail", "standby"),
        ("maintenance", "maintenance"),
        ("unclean", "unclean"),
        ("pending", "pending"),
        ("shutdown", "shutdown"),
    ],
)
def test_each_doubtful_flag_names_its_state(attribute: str, state: str) -> None:
    """A real 2.1.7 sample with one flag of cluster01 set: the state is named in the refusal."""
    status = cluster.parse_pacemaker_status(
        flipped(sample("crm_mon-2.1.7.xml"), "cluster01", attribute)
    )
    assert status.states["cluster01"] == state
    assert cluster.pacemaker_problems(status, frozenset({"cluster01"})) == [
        f"cluster01 is {state} in pacemaker, not online"
    ]


def test_unclean_wins_over_offline_like_pacemaker() -> None:
    """An unclean offline node is `unclean` (pacemaker's node_text_status precedence)."""
    text = flipped(sample("crm_mon-2.1.7-offline.xml"), "cluster02", "unclean")
    assert cluster.parse_pacemaker_status(text).states["cluster02"] == cluster.UNCLEAN


def test_missing_or_odd_flag_is_unknown_and_refuses() -> None:
    """A node whose flags are not true/false is `unknown`; doubt refuses."""
    text = sample("crm_mon-2.1.7.xml").replace('pending="false"', 'pending="maybe"', 1)
    status = cluster.parse_pacemaker_status(text)
    assert status.states["cluster01"] == cluster.UNKNOWN
    assert cluster.pacemaker_problems(status, frozenset({"cluster01"}))


def test_no_quorum_and_missing_member_refuse() -> None:
    """with_quorum="false" refuses, and an expected node pacemaker does not list is named."""
    text = sample("crm_mon-2.1.7.xml").replace('with_quorum="true"', 'with_quorum="false"')
    problems = cluster.pacemaker_problems(
        cluster.parse_pacemaker_status(text), frozenset({"ctl-9"})
    )
    assert problems == [
        "pacemaker partition without quorum",
        "ctl-9 is not a node of the pacemaker cluster",
    ]


def test_not_connected_result_is_a_problem_with_crm_mon_error() -> None:
    """crm_mon's exit-102 XML (pacemaker stopped) reads as its own error, never an exception."""
    text = sample("crm_mon-2.1.7-not-connected.xml")
    status = cluster.parse_pacemaker_status(text)
    assert "cluster is not available on this node" in status.problem
    assert cluster.crm_mon_error(text).startswith("crm_mon: Error: cluster is not available")
    assert cluster.pacemaker_problems(status, frozenset({"a"})) == [status.problem]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n",
        "<pacemaker-result",
        "Cluster name: tripleo_cluster\n  * Online: [ ctl-0 ]\n",
        "<html/>",
        "<pacemaker-result><summary/></pacemaker-result>",
        '<!DOCTYPE x [<!ENTITY a "aaaa">]><crm_mon>&a;</crm_mon>',
        "<crm_mon>\x00</crm_mon>",
    ],
)
def test_unreadable_status_is_a_clear_problem(text: str) -> None:
    """Empty, truncated, text, foreign or DTD-carrying output: "cannot read pacemaker status"."""
    status = cluster.parse_pacemaker_status(text)
    assert status.problem.startswith("cannot read pacemaker status")
    assert not status.quorate and not status.members
    assert cluster.pacemaker_problems(status, frozenset({"ctl-0"})) == [status.problem]


def test_old_names_still_parse_xml() -> None:
    """`parse_pcs_status` (called by engine.py) reads the same XML."""
    assert cluster.parse_pcs_status(sample("crm_mon-2.0.5.xml")).online == {
        "cluster01",
        "cluster02",
    }


def test_galera_reasons_do_not_repeat_the_node_name() -> None:
    """Gate reasons carry no node name; the engine's list form adds it once."""
    joining = cluster.GaleraStatus("Joining", 3)
    assert cluster.galera_reasons(joining, 3) == ["galera is Joining, not Synced"]
    assert cluster.galera_problems("ctl-2", joining, 3) == ["ctl-2: galera is Joining, not Synced"]


def test_unreadable_galera_state_says_so() -> None:
    """No wsrep_local_state_comment in mysql's answer: the reason says the state is unreadable."""
    status = cluster.parse_galera_status("garbage\n")
    assert cluster.galera_reasons(status, 3) == [
        "galera state could not be read (no wsrep_local_state_comment)"
    ]
