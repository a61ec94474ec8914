"""``python -m lab up|down|status --dir DIR``: the lab for demos and manual runs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from lab.lab import Lab, LabUnavailable, down_from_record, health_problems, standard_hosts
from lab.standin import locked_state


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="bring the standard lab up and leave it running")
    up.add_argument("--dir", type=Path, required=True)
    up.add_argument("--controllers", type=int, default=3)
    up.add_argument("--composable", action="store_true")
    up.add_argument("--no-ceph", action="store_true")
    down = sub.add_parser("down", help="tear down the lab recorded in DIR/lab.json")
    down.add_argument("--dir", type=Path, required=True)
    status = sub.add_parser("status", help="print the simulated cluster health")
    status.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args(argv)
    directory: Path = args.dir.resolve()

    if args.command == "up":
        record = directory / "lab.json"
        if record.exists() and not json.loads(record.read_text()).get("down"):
            print(
                f"a lab is already up in {directory} (python -m lab down --dir {directory})",
                file=sys.stderr,
            )
            return 1
        hosts = standard_hosts(args.controllers, ceph=not args.no_ceph, composable=args.composable)
        lab = Lab(directory, hosts)
        started = time.monotonic()
        try:
            lab.up()
        except LabUnavailable as exc:
            print(f"lab unavailable: {exc}", file=sys.stderr)
            return 2
        policy = lab.write_policy()
        print(
            f"lab {lab.lab_id} up in {time.monotonic() - started:.2f}s, bridge {lab.bridge} "
            f"{lab.network} (root side {lab.root_address})"
        )
        for name in lab.host_names:
            print(f"  {name:12} {lab.address(name):15} ns {lab.namespace(name)}")
        print(
            f"inventory   {lab.inventory_path}\npolicy      {policy}\n"
            f"client key  {lab.client_key_path}\nknown_hosts {lab.known_hosts_path}\n"
            f"ssh: {' '.join(lab.ssh_argv(lab.host_names[0], 'pcs status')[:-2])} "
            f"root@{lab.address(lab.host_names[0])} CMD"
        )
        print(f"tear down:  python -m lab down --dir {directory}")
        return 0
    if args.command == "down":
        down_from_record(directory)
        print(f"lab in {directory} torn down")
        return 0
    with locked_state(directory) as state:
        problems = health_problems(state)
    print("healthy" if not problems else "\n".join(problems))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
