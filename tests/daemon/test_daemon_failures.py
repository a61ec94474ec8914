"""A scheduled run whose credential file broke after the daemon started is recorded `failed`,
the failed metrics move and BarctlBackupFailed fires (issue 8 finding 5, "Done when" item).

Before, such a run logged "Run crashed" and recorded nothing: no history row, no counter, no
alert. The alert check is promtool's own: the daemon's scraped series become the input of a
`promtool test rules` unit test against etc/prometheus/barctl-alerts.yml.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from barctl.history.records import RunRecord
from barctl.history.store import Store, history_path
from barctl.outcome import RunOutcome
from lab import Lab
from tests.daemon.helpers import REPO, DaemonRunner, free_port, write_yaml
from tests.engine.helpers import set_up

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed"),
]

HOUR = 3600
ALERT_RULES = REPO / "etc" / "prometheus" / "barctl-alerts.yml"


def sftp_policy(lab: Lab, directory: Path, port: int) -> tuple[Path, Path]:
    """The lab policy with an SFTP target, undercloud every 4 s, its own copy of the SSH private
    key in `directory`; (policy path, state dir)."""
    state = directory / "state"
    private_key = directory / "id_barctl"
    shutil.copy2(lab.client_key_path, private_key)
    sftp = {
        "host": lab.address("backup-0"),
        "user": "backup",
        "path": "/ctl_plane_backups",
    }
    document = lab.policy(
        plans={
            "undercloud": {"schedule": None, "interval_seconds": 4},
            "controlplane": {"schedule": None, "interval_seconds": HOUR},
        },
        backup_target={"nfs": None, "sftp": sftp},
        ssh={"private_key": str(private_key)},
        state_directory=str(state),
        runtime_directory=str(directory / "run"),
        metrics={"listen": f"127.0.0.1:{port}"},
        log={"format": "json"},
    )
    path = write_yaml(directory / "policy.yaml", document)
    set_up(path, "undercloud")  # runs find barctl's local.conf (issue 10)
    return path, state


def runs(state: Path, plan: str) -> list[RunRecord]:
    """Runs of `plan`, newest first."""
    with Store.open(history_path(state)) as store:
        return store.history(plan, limit=100)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The daemon's /metrics samples by (name, sorted labels), fetched without any proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def promtool_test(samples: dict[Any, float], instance: str) -> dict[str, Any]:
    """A promtool unit test: every scraped last-outcome series held for 3 min; the alert fires."""
    series = []
    for (name, labels), value in sorted(samples.items()):
        if name == "barctl_plan_last_outcome":
            rendered = ",".join(
                f'{key}="{text}"'
                for key, text in (("job", "barctl"), ("instance", instance), *labels)
            )
            series.append({"series": f"{name}{{{rendered}}}", "values": f"{value:g}x3"})
    firing = (
        'ALERTS{alertname="BarctlBackupFailed",alertstate="firing",severity="warning",'
        f'job="barctl",instance="{instance}",plan="undercloud",outcome="failed"}}'
    )
    return {
        "rule_files": [str(ALERT_RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": 'ALERTS{alertname="BarctlBackupFailed"}',
                        "eval_time": "1m",
                        "exp_samples": [{"labels": firing, "value": 1}],
                    }
                ],
            }
        ],
    }


def test_a_credential_file_deleted_after_start_records_failed_and_fires_the_alert(
    lab: Lab, tmp_path: Path, daemons: DaemonRunner
) -> None:
    """Deleted after READY: the scheduled run is failed with the reason, alert firing."""
    port = free_port()
    policy, state = sftp_policy(lab, tmp_path, port)
    daemon, notify = daemons.start(policy)
    notify.wait("READY", "1", timeout=30)
    broken = tmp_path / "id_barctl"
    broken.unlink()
    ended = daemon.wait_event("Job ended", timeout=30)
    assert (ended["plan"], ended["outcome"]) == ("undercloud", "failed")
    assert not daemon.events("Run crashed")
    latest = runs(state, "undercloud")[0]
    assert (latest.run_id, latest.outcome) == (ended["run_id"], RunOutcome.FAILED)
    assert latest.summary == (
        f"could not start: cannot read the SSH private key {broken}: No such file or directory"
    )
    samples = scrape(port)
    failed = (("outcome", "failed"), ("plan", "undercloud"))
    assert samples["barctl_plan_last_outcome", failed] == 1
    assert samples["barctl_plan_runs_total", failed] >= 1
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(30) == 0
    test_file = tmp_path / "failed.test.yml"
    test_file.write_text(yaml.safe_dump(promtool_test(samples, f"127.0.0.1:{port}")))
    checked = subprocess.run(
        ["promtool", "test", "rules", str(test_file)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
