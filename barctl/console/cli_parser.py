"""The command line's grammar: barctl's sub-commands, their arguments and the exit codes' help.

Imports nothing heavy: `barctl --version` and `--help` answer at once (cli.py).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from barctl import __version__

if TYPE_CHECKING:
    # argparse's private class, named for the type checker only.
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

EPILOG = """\
exit codes:
  0  success
  1  backup failed or was interrupted (every undo ran and succeeded)
  2  usage error, or the policy or inventory is invalid (one FILE:LINE:COL: key: message each)
  3  refused by the gate: a node or the backup target is unreachable or unhealthy; nothing touched
  4  another run holds the plan, or one of its nodes
  5  degraded: an undo failed; a node may be out of the cluster or paused (see `barctl history`)

policy: -c/--config, else $BARCTL_CONFIG, else /etc/barctl/policy.yaml
"""

JSON_HELP = "one JSON object, schema barctl.COMMAND/1 (docs/json.md)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per operator task."""
    parser = argparse.ArgumentParser(
        prog="barctl",
        description="Backup orchestrator for TripleO undercloud and control plane (ReaR over SSH).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-c", "--config", help="policy file")
    parser.add_argument("-v", "--verbose", action="store_true", help="log remote output")
    parser.add_argument("--version", action="version", version=f"barctl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("validate", help="check the policy and the inventory groups it names")
    inventory = commands.add_parser(
        "inventory", help="show each plan's nodes: address, user, groups"
    )
    inventory.add_argument("--json", action="store_true", help=JSON_HELP)
    for name, text in (
        ("plan", "print a plan's steps and commands without connecting anywhere"),
        ("precheck", "run the gate alone: reachability and health, nothing changed"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("plan")
        sub.add_argument("--json", action="store_true", help=JSON_HELP)
    _add_setup(commands)
    _add_runs(commands)
    _add_reports(commands)
    _add_service(commands)
    return parser


def _add_setup(commands: Subparsers) -> None:
    """`barctl setup`: its plan and its three ways of changing nothing or less."""
    setup = commands.add_parser(
        "setup", help="bring each node's ReaR set-up to the policy (idempotent)"
    )
    setup.add_argument("plan")
    setup.add_argument(
        "--check", action="store_true", help="change nothing; list every difference (exit 1)"
    )
    setup.add_argument(
        "--no-packages", action="store_true", help="leave packages to the site (no rpm, no dnf)"
    )
    setup.add_argument(
        "--render", metavar="DIR", help="write DIR/<node>/etc/rear/... and connect nowhere"
    )
    setup.add_argument("--run-id", default="RUN_ID", help="run id of the per-run file")


def _add_runs(commands: Subparsers) -> None:
    """The sub-commands that run something on the nodes or the target: run and prune."""
    run = commands.add_parser("run", help="run a backup (or the restore drill: drill) now")
    run.add_argument("plan", help="undercloud, controlplane, or drill")
    run.add_argument("--dry-run", action="store_true", help="gate and plan only, change nothing")
    prune = commands.add_parser("prune", help="delete old runs on the target (plan retention)")
    prune.add_argument("plan")
    prune.add_argument("--dry-run", action="store_true", help="say what would go, delete nothing")
    prune.add_argument("--json", action="store_true", help=JSON_HELP)


def _add_reports(commands: Subparsers) -> None:
    """The sub-commands that read: backups, status, history, restore-runbook."""
    backups = commands.add_parser("backups", help="every run on the target, from its manifests")
    backups.add_argument("node", nargs="?")
    backups.add_argument("--plan", help="only the nodes of this plan")
    backups.add_argument("--json", action="store_true", help=JSON_HELP)
    status = commands.add_parser("status", help="last and next run of each plan")
    status.add_argument("--json", action="store_true", help=JSON_HELP)
    history = commands.add_parser("history", help="recent runs, newest first")
    history.add_argument("plan", nargs="?")
    history.add_argument("--json", action="store_true", help=JSON_HELP)
    history.add_argument("--limit", type=int, default=20)
    runbook = commands.add_parser(
        "restore-runbook", help="the restore procedure of one node's run, every path filled in"
    )
    runbook.add_argument("node")
    runbook.add_argument("run_id", nargs="?", help="default: the node's newest verified run")
    runbook.add_argument("--json", action="store_true", help=JSON_HELP)


def _add_service(commands: Subparsers) -> None:
    """What installs and runs barctl as a service, and its alert rules."""
    service = commands.add_parser("install-service", help="put unit, sysusers, tmpfiles in place")
    service.add_argument("--prefix", default="/", metavar="DIR", help="write under DIR (staging)")
    service.add_argument("--dry-run", action="store_true", help="say what would change")
    rules = commands.add_parser("alert-rules", help="Prometheus alert rules for this policy")
    rules.add_argument("--runbook-base", help="http(s) URL of docs/monitoring.md (runbook links)")
    rules.add_argument("--output", help="write to this file instead of standard output")
    daemon = commands.add_parser("daemon", help="run scheduled backups (systemd service)")
    daemon.set_defaults(daemon=True)
