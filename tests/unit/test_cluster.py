"""Pacemaker and galera status parsing and judgement, against real crm_mon output."""

from __future__ import annotations

from pathlib import Path

import pytest

from barctl.run import cluster, cluster_checks
from barctl.run.commands_services import VIEW_MARKER
from tests import fakes
from tests.fakes import galera_lines

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


def test_cluster_view_splits_crm_mon_and_galera_at_their_exit_markers() -> None:
    """One exec's answer: crm_mon's real XML and mysql's lines, each read on its own."""
    galera = galera_lines("Synced", 3, ["198.18.0.10:3306", "198.18.0.11:3306", "[fd00::c]:3306"])
    view = cluster.parse_cluster_view(
        "cluster01",
        fakes.cluster_view(sample("crm_mon-2.1.7.xml"), galera),
        VIEW_MARKER,
        galera_asked=True,
    )
    assert view.answered and view.pacemaker.online == {"cluster01", "cluster02"}
    assert view.galera == cluster.GaleraStatus(
        "Synced", 3, ("198.18.0.10:3306", "198.18.0.11:3306", "[fd00::c]:3306")
    )


def test_cluster_view_of_a_node_whose_pacemaker_is_stopped_does_not_answer() -> None:
    """crm_mon's real not-connected result (exit 102): the view carries its error."""
    text = fakes.cluster_view(sample("crm_mon-2.1.7-not-connected.xml"), crm_mon_exit=102)
    view = cluster.parse_cluster_view("cluster01", text, VIEW_MARKER, galera_asked=False)
    assert not view.answered
    assert "cluster is not available on this node" in view.pacemaker.problem


def test_cluster_view_without_mysql_marker_says_galera_is_unavailable() -> None:
    """mysql failed (exit 1): galera unknown, the node named; pacemaker still read."""
    text = fakes.cluster_view(sample("crm_mon-2.1.7.xml")) + "ERROR 2002\n@@barctl-exit mysql 1\n"
    view = cluster.parse_cluster_view("cluster01", text, VIEW_MARKER, galera_asked=True)
    assert view.answered and view.galera is None
    assert view.galera_problem == "cluster01: galera status unavailable (mysql exit 1)"


@pytest.mark.parametrize(
    ("entry", "host"),
    [("198.18.0.10:3306", "198.18.0.10"), ("[fd00::c]:3306", "fd00::c"), ("db-0", "db-0")],
)
def test_incoming_address_host_part(entry: str, host: str) -> None:
    """`wsrep_incoming_addresses` entries are ip:port, [ipv6]:port (MariaDB's format)."""
    assert cluster.address_host(entry) == host


def test_galera_view_names_each_member_missing_from_incoming_addresses() -> None:
    """Size 2 of 3 and ctl-2's address absent: both said, from the node that saw it."""
    status = cluster.GaleraStatus("Synced", 2, ("198.18.0.10:3306", "198.18.0.11:3306"))
    members = {"ctl-0": "198.18.0.10", "ctl-1": "198.18.0.11", "ctl-2": "198.18.0.12"}
    assert cluster.galera_view_problems("ctl-0", status, members) == [
        "ctl-0: galera cluster size 2 < 3",
        "ctl-2: not in galera's wsrep_incoming_addresses on ctl-0",
    ]


def test_galera_view_without_addresses_judges_by_size_alone() -> None:
    """No wsrep_incoming_addresses in the answer, or a member's address unknown: no guess."""
    members = {"ctl-0": "198.18.0.10", "ctl-1": ""}
    assert cluster.galera_view_problems("ctl-0", cluster.GaleraStatus("Synced", 2), members) == []
    partial = cluster.GaleraStatus("Synced", 2, ("198.18.0.10:3306", "198.18.0.99:3306"))
    assert cluster.galera_view_problems("ctl-0", partial, members) == []


@pytest.mark.parametrize(
    ("waited", "remaining", "ceiling", "delay"),
    [(0.0, 60.0, 2.0, 0.1), (5.0, 60.0, 2.0, 0.5), (300.0, 60.0, 2.0, 2.0), (300.0, 0.3, 2.0, 0.3)],
)
def test_rejoin_polls_back_off_within_the_ceiling_and_the_deadline(
    waited: float, remaining: float, ceiling: float, delay: float
) -> None:
    """A tenth of the time waited, at least 0.1 s, at most the ceiling and the time left."""
    assert cluster_checks.poll_delay(waited, remaining, ceiling) == pytest.approx(delay)


def test_hiera_bind_address_is_the_galera_address() -> None:
    """hiera's `nil` is no address; an IPv6 value may come bracketed."""
    assert cluster.galera_address("nil\n") == ""
    assert cluster.galera_address("[fd00::c]\n") == "fd00::c"
    assert cluster.galera_address("172.17.1.10\n") == "172.17.1.10"
