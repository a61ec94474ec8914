"""Inventory parse and resolve time for 1k, 10k and 100k hosts (issue 8: 100k took 518 s).

Run by hand: `.venv/bin/python -m bench.inventory_bench [--sizes 1000 10000 100000]`.
Prints seconds, asserts nothing. "parse" is the YAML loader (barctl.config.yamlsource), "resolve" is
barctl.config.inventory turning the document into hosts: checks, group depths, variable precedence.
The layout is tripleo's merged stack: hosts in overcloud_Controller, reached through Controller
and through pacemaker -> overcloud_pacemaker, the user from a service group's vars.
"""

from __future__ import annotations

import argparse
import time

from barctl.config.inventory import parse_inventory
from barctl.config.yamlsource import parse_yaml


def inventory_text(count: int) -> str:
    """A merged-stack inventory of `count` controllers."""
    lines = [
        "Controller:\n  children: {overcloud_Controller: {}}\n",
        "pacemaker:\n  children: {overcloud_pacemaker: {}}\n",
        "overcloud_pacemaker:\n  children: {overcloud_Controller: {}}\n",
        "  vars: {ansible_ssh_user: tripleo-admin}\n",
        "overcloud_Controller:\n  hosts:\n",
    ]
    lines += (
        f"    ctl-{index}: {{ansible_host: 10.{index >> 16}.{index >> 8 & 255}.{index & 255}}}\n"
        for index in range(count)
    )
    return "".join(lines)


def measure(count: int) -> str:
    """One line: hosts, parse seconds, resolve seconds, resolve microseconds per host."""
    text = inventory_text(count)
    started = time.perf_counter()
    document = parse_yaml(text, f"bench-{count}.yaml")
    parsed = time.perf_counter()
    inventory = parse_inventory(document)
    resolved = time.perf_counter()
    assert len(inventory.hosts) == count
    per_host = (resolved - parsed) / count * 1e6
    return (
        f"{count:>7} hosts  parse {parsed - started:7.2f} s  resolve {resolved - parsed:6.2f} s"
        f"  ({per_host:5.1f} us/host)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    for count in parser.parse_args().sizes:
        print(measure(count), flush=True)


if __name__ == "__main__":
    main()
