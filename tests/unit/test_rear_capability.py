"""The gate's ReaR set-up judgements: version from `rear -V`, the cron file, free space."""

from __future__ import annotations

import pytest

from barctl.model import CommandResult, Node
from barctl.reasons import Reason
from barctl.run import gate
from barctl.run.rear_capability import (
    cron_problem,
    human_bytes,
    parse_free_bytes,
    parse_version,
    space_problem,
    version_problems,
)
from barctl.run.rear_config import RearSettings
from tests.fakes import FakeRunner, ok

# `rear -V` as each release prints it (usr/sbin/rear: "$PRODUCT $VERSION / $RELEASE_DATE").
REAR_24 = "Relax-and-Recover 2.4 / 2018-06-21\n"
REAR_27_DEBIAN = "Relax-and-Recover 2.7 / Git\n"
REAR_28 = "Relax-and-Recover 2.8 / 2024-12-19\n"
# coreutils `df -B1 --output=avail /` on this machine.
DF_ANSWER = "      Avail\n84138270720\n"
SIZE_LIMIT = RearSettings(iso_file_size_limit_bytes=4 << 30)


@pytest.mark.parametrize(
    ("text", "version"),
    [(REAR_24, (2, 4)), (REAR_27_DEBIAN, (2, 7)), (REAR_28, (2, 8)), ("rear: not found", None)],
)
def test_parse_version_reads_real_rear_answers(text: str, version: tuple[int, int] | None) -> None:
    """2.4's, Debian's 2.7 (`/ Git`) and 2.8's answers give their version; other text none."""
    assert parse_version(text) == version


def test_versions_from_2_4_run_the_default_configuration() -> None:
    """2.4, 2.7 and 2.8 pass without an ISO size limit in the policy."""
    for text in (REAR_24, REAR_27_DEBIAN, REAR_28):
        assert version_problems(text, RearSettings()) == ()


def test_older_or_unparseable_versions_are_refused() -> None:
    """ReaR 2.3 is too old; an answer naming no version cannot be judged."""
    assert version_problems("Relax-and-Recover 2.3 / 2017-12-20", RearSettings()) == (
        "ReaR 2.3 is older than 2.4, the oldest barctl supports",
    )
    (problem,) = version_problems("command not understood\n", RearSettings())
    assert problem.startswith("cannot tell the ReaR version")


def test_iso_size_limit_needs_2_7() -> None:
    """A policy setting rear.iso_file_size_limit_bytes refuses 2.6, accepts 2.7 and 2.8."""
    (problem,) = version_problems("Relax-and-Recover 2.6 / 2020-06-17", SIZE_LIMIT)
    assert "ReaR 2.6 has no ISO_FILE_SIZE_LIMIT (from 2.7)" in problem
    assert version_problems(REAR_27_DEBIAN, SIZE_LIMIT) == ()
    assert version_problems(REAR_28, SIZE_LIMIT) == ()


def test_cron_problem_names_the_file_only_when_it_exists() -> None:
    """`test ! -e` exit 0: absent, fine; 1: present, refused; else cannot tell."""
    assert cron_problem(0) == ""
    assert cron_problem(1).startswith("/etc/cron.d/rear exists (the rear package's nightly")
    assert cron_problem(None) == "cannot tell whether /etc/cron.d/rear exists: no exit status"
    assert cron_problem(2) == "cannot tell whether /etc/cron.d/rear exists: exit 2"


def test_free_space_is_read_from_coreutils_df() -> None:
    """df's `Avail` header and number give the bytes; anything else is unreadable."""
    assert parse_free_bytes(DF_ANSWER) == 84138270720
    assert parse_free_bytes("df: /x: No such file or directory\n") is None
    assert parse_free_bytes("") is None


def test_space_below_the_floor_names_both_numbers() -> None:
    """1.2 GiB under a 10 GiB floor is refused with both amounts; enough space passes."""
    text = f"Avail\n{int(1.2 * (1 << 30))}\n"
    assert space_problem(text, "/ctl_plane_backups", 10 << 30) == (
        "1.2 GiB free under /ctl_plane_backups, below the floor of 10 GiB"
        " (backup_target.min_free_bytes)"
    )
    assert space_problem(DF_ANSWER, "/ctl_plane_backups", 10 << 30) == ""
    assert human_bytes(512) == "512 bytes" and human_bytes(3 << 20) == "3 MiB"


def _check(fake: FakeRunner, settings: RearSettings, floor: int) -> gate.GateResult:
    return gate.check(
        [Node("ctl-0", "198.18.0.11", "root")],
        Node("backup-0", "198.18.0.12", "root"),
        "/backups",
        fake,
        pacemaker=False,
        timeout=5,
        max_parallel=2,
        settings=lambda _: settings,
        min_free_bytes=floor,
    )


def test_gate_refuses_cron_file_and_version_as_configuration() -> None:
    """Both set-up problems of one node are reported, classed CONFIGURATION; probing goes on."""
    fake = FakeRunner(
        {
            "rear_version": ok("Relax-and-Recover 2.6 / 2020-06-17\n"),
            "cron_file_absent": CommandResult(1, "", "", 0.01),
            "free_space": ok(DF_ANSWER),
        }
    )
    result = _check(fake, SIZE_LIMIT, 10 << 30)
    reasons = result.reasons()["ctl-0"]
    assert len(reasons) == 2 and reasons[1].startswith("/etc/cron.d/rear exists")
    assert result.reason_classes() == {"ctl-0": Reason.CONFIGURATION}
    assert "container_names" in fake.ran("ctl-0")


def test_gate_refuses_a_target_below_the_floor() -> None:
    """The target's df answer under the floor refuses the run for the target alone."""
    fake = FakeRunner({"rear_version": ok(REAR_28), "free_space": ok("Avail\n1048576\n")})
    result = _check(fake, RearSettings(), 10 << 30)
    assert result.problems == (
        (
            "backup-0",
            "1 MiB free under /backups, below the floor of 10 GiB (backup_target.min_free_bytes)",
        ),
    )
    assert ("backup-0", "free_space") in fake.ran_on()
