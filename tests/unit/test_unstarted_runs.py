"""A run that cannot start is recorded `failed` with its reason (issue 8 finding 5).

No node is reachable here (TEST-NET addresses): every failure below happens before the first
connection, which is the point: history must say why the run never started.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml

from barctl import redaction
from barctl.config.inventory import load_inventory
from barctl.config.policy import load_policy
from barctl.config.site import Site
from barctl.console import cli
from barctl.errors import BarctlError
from barctl.history.records import RunRecord
from barctl.history.store import Store, history_path
from barctl.outcome import RunOutcome, Trigger
from barctl.run import backup
from barctl.service import scheduled

DATA = Path(__file__).resolve().parents[1] / "data"
SECRET = "db-Secret-42"


@pytest.fixture(autouse=True)
def no_registered_secrets() -> Iterator[None]:
    """Each test starts and ends with an empty secret registry."""
    redaction.SECRETS.clear()
    yield
    redaction.SECRETS.clear()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A policy with an SFTP target and the SSH credential files, all valid at load time."""
    for name, text in (("id_ed25519", "key\n"), ("known_hosts", "h k\n")):
        (tmp_path / name).write_text(text)
    policy: dict[str, Any] = {
        "inventory": {"path": str(DATA / "inventory" / "wallaby_single.yaml")},
        "undercloud": {"address": "192.0.2.1"},
        "ssh": {
            "private_key": str(tmp_path / "id_ed25519"),
            "known_hosts": str(tmp_path / "known_hosts"),
            "connect_timeout_seconds": 1,
        },
        "backup_target": {
            "sftp": {
                "host": "192.0.2.250",
                "user": "backup",
                "path": "/ctl_plane_backups",
            }
        },
        "plans": {"undercloud": {"interval_seconds": 3600}},
        "state_directory": str(tmp_path / "state"),
        "runtime_directory": str(tmp_path / "run"),
    }
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    return path


def request(policy_path: Path, **extra: Any) -> backup.Request:
    """A scheduled request for the undercloud plan of the policy at `policy_path`."""
    policy = load_policy(policy_path)
    inventory = load_inventory(str(policy.inventory.path))
    return backup.Request(policy, inventory, "undercloud", trigger=Trigger.SCHEDULED, **extra)


def runs(policy_path: Path) -> list[RunRecord]:
    """Every recorded run, newest first."""
    path = history_path(policy_path.parent / "state")
    if not path.exists():
        return []
    with Store.open(path) as store:
        return store.history(limit=100)


def test_a_deleted_private_key_records_a_failed_run_naming_it(site: Path) -> None:
    """The SSH key removed after load: outcome failed, reason names the file and cause."""
    prepared = request(site)
    (site.parent / "id_ed25519").unlink()
    result = backup.perform(prepared)
    assert result.outcome is RunOutcome.FAILED
    assert "cannot read the SSH private key" in result.summary
    assert "No such file or directory" in result.summary
    (run,) = runs(site)
    assert (run.run_id, run.outcome, run.summary) == (
        result.run_id,
        RunOutcome.FAILED,
        result.summary,
    )
    assert run.trigger is Trigger.SCHEDULED and run.ended_at is not None
    assert run.run_id.split("-")[1] == "undercloud"


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        ("id_ed25519", "the SSH private key {path} is empty"),
        ("known_hosts", "the SSH known_hosts file {path} is empty"),
    ],
)
def test_an_emptied_credential_file_records_a_failed_run(
    site: Path, broken: str, expected: str
) -> None:
    """Each credential file emptied after load: a failed row whose reason names that file."""
    prepared = request(site)
    path = site.parent / broken
    path.write_text("")
    result = backup.perform(prepared)
    assert result.outcome is RunOutcome.FAILED
    assert [run.summary for run in runs(site)] == [f"could not start: {expected.format(path=path)}"]


def test_a_key_file_that_is_not_utf8_or_a_directory_records_a_failed_run(site: Path) -> None:
    """Non-UTF-8 bytes, then a directory in its place: two failed rows, each with its cause."""
    prepared = request(site)
    key_file = site.parent / "id_ed25519"
    key_file.write_bytes(b"\xff\xfe")
    backup.perform(prepared)
    key_file.unlink()
    key_file.mkdir()
    backup.perform(prepared)
    summaries = [run.summary for run in runs(site)]
    assert summaries[1].endswith(f"the SSH private key {key_file} is not UTF-8 text")
    assert summaries[0].endswith(f"cannot read the SSH private key {key_file}: Is a directory")


def test_an_unresolvable_plan_records_a_failed_run(site: Path) -> None:
    """No undercloud address for a local-connection undercloud: failed, naming the setting."""
    document = yaml.safe_load(site.read_text())
    del document["undercloud"]
    site.write_text(yaml.safe_dump(document))
    result = backup.perform(request(site))
    assert result.outcome is RunOutcome.FAILED
    assert "set undercloud.address" in runs(site)[0].summary


def test_an_unknown_plan_raises_and_records_nothing(site: Path) -> None:
    """A plan name the policy does not have is a usage error, not a run."""
    prepared = request(site)
    prepared.plan = "nosuchplan"
    with pytest.raises(backup.ResolveError, match="no plan 'nosuchplan'"):
        backup.perform(prepared)
    assert runs(site) == []


def test_an_unexpected_error_is_recorded_with_its_type_and_redacted(site: Path) -> None:
    """Anything unforeseen before the start is a failed row; registered secrets are masked."""
    redaction.register_secret(SECRET)
    result = backup.record_unstarted(request(site), RuntimeError(f"lftp: {SECRET}"))
    assert result.summary == "could not start: RuntimeError: lftp: ***"
    assert [run.summary for run in runs(site)] == [result.summary]
    state = site.parent / "state"
    on_disk = b"".join(path.read_bytes() for path in state.glob("history.db*"))
    assert SECRET.encode() not in on_disk


def test_a_dry_run_that_cannot_start_records_nothing(site: Path) -> None:
    """Dry runs are recorded nowhere, also when they fail."""
    prepared = request(site, dry_run=True)
    (site.parent / "id_ed25519").unlink()
    assert backup.perform(prepared).outcome is RunOutcome.FAILED
    assert runs(site) == []


def test_history_that_cannot_record_is_a_clean_error(site: Path) -> None:
    """The state directory unusable as well: RunNotRecordedError giving both reasons."""
    prepared = request(site)
    (site.parent / "id_ed25519").unlink()
    (site.parent / "state").write_text("not a directory")
    with pytest.raises(BarctlError, match=r"cannot read the SSH private key.*not recorded"):
        backup.perform(prepared)


def test_cli_run_with_an_unusable_runtime_directory_exits_1_and_records_it(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`barctl run`: the lock directory failing is a failed run (exit 1), not a traceback."""
    (site.parent / "run").write_text("not a directory")
    assert cli.main(["-c", str(site), "run", "undercloud"]) == cli.EXIT_FAILED
    output = capsys.readouterr().out
    (run,) = runs(site)
    assert run.outcome is RunOutcome.FAILED
    assert "cannot open lock file" in run.summary
    assert f"run {run.run_id}: failed: {run.summary}" in output


def test_daemon_prune_after_a_run_that_could_not_start_only_warns(site: Path) -> None:
    """The key gone: the daemon's prune after that run warns naming the file and returns;
    nothing reaches the scheduler, no traceback is logged."""
    prepared = request(site)
    (site.parent / "id_ed25519").unlink()
    with structlog.testing.capture_logs() as logged:
        scheduled.prune_after_run(
            prepared.policy, prepared.inventory, Site.from_policy(prepared.policy, {}), "undercloud"
        )
    (entry,) = logged
    assert (entry["event"], entry["log_level"]) == ("Prune skipped", "warning")
    assert "cannot read the SSH private key" in entry["error"]
    assert "exc_info" not in entry
