"""Start-up of the CLI: wall and CPU time of `barctl --version` and `barctl validate`.

Run: `.venv/bin/python bench/startup_bench.py [--repeat 15] [--quick]`. Prints the median of each
against its target (issue 12: --version <= 0.15 s, validate <= 0.4 s on the example policy) and
against the interpreter's own start (`python -c pass`), plus the heavy modules each command
loaded; asserts nothing. No root needed.

`validate` reads the shipped example policy (`etc/barctl/policy.yaml`) with only its site paths
pointed at this machine (inventory: tests/data/inventory/wallaby_single.yaml, an empty key and
known_hosts), so it does all the work it does on an undercloud. Children's CPU comes from
`resource.getrusage(RUSAGE_CHILDREN)`, which is what a loaded machine does not inflate.
Bytecode is compiled first and PYTHONDONTWRITEBYTECODE dropped, as for an installed package (pip
compiles at install); without .pyc files validate spends ~150 ms more compiling barctl's source.
A development (editable) install adds its import finder to every start (~40 ms here).
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
EXAMPLE = REPOSITORY / "etc" / "barctl" / "policy.yaml"
INVENTORY = REPOSITORY / "tests" / "data" / "inventory" / "wallaby_single.yaml"
TARGETS = {"--version": 0.15, "validate": 0.4}
HEAVY = ("fabric", "paramiko", "invoke", "cryptography", "prometheus_client", "pydantic")
_LOADED = (
    "import sys, runpy\nsys.argv = ['barctl', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('barctl', run_name='__main__')\nexcept SystemExit:\n    pass\n"
    f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
)


def site_policy(directory: Path) -> Path:
    """The example policy with its paths pointed into `directory` (and the test inventory)."""
    key, known = directory / "id_ed25519", directory / "known_hosts"
    key.write_text("not a key: validate checks the file is readable and non-empty\n")
    known.write_text("192.0.2.21 ssh-ed25519 AAAA\n")
    text = EXAMPLE.read_text()
    for old, new in (
        ("/home/stack/tripleo-inventory.yaml", str(INVENTORY)),
        ("/etc/barctl/credentials/id_ed25519", str(key)),
        ("/etc/barctl/known_hosts", str(known)),
        ("/var/lib/barctl", str(directory / "state")),
        ("/run/barctl", str(directory / "run")),
    ):
        text = text.replace(old, new)
    path = directory / "policy.yaml"
    path.write_text(text)
    return path


def timed(command: list[str], repeat: int) -> tuple[float, float, int]:
    """Median wall seconds, median CPU seconds (user + system) and the last exit code."""
    walls, cpus, code = [], [], 0
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    environment["BARCTL_LOG_FORMAT"] = "console"
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        code = subprocess.run(command, capture_output=True, check=False, env=environment).returncode
        walls.append(time.perf_counter() - began)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus), code


def loaded(arguments: list[str]) -> str:
    """The heavy modules a command imports."""
    completed = subprocess.run(
        [sys.executable, "-c", _LOADED, *arguments], capture_output=True, text=True, check=False
    )
    return completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else ""


def main(argv: list[str] | None = None) -> list[str]:
    """Time the interpreter, --version and validate; print and return the figure lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="3 repetitions (CI smoke)")
    arguments = parser.parse_args(argv)
    repeat = 3 if arguments.quick else arguments.repeat
    script = Path(sys.executable).with_name("barctl")
    barctl = [str(script)] if script.exists() else [sys.executable, "-m", "barctl"]
    lines = []
    compileall.compile_dir(REPOSITORY / "barctl", quiet=1)
    with tempfile.TemporaryDirectory() as directory:
        policy = site_policy(Path(directory))
        floor_wall, floor_cpu, _ = timed([sys.executable, "-c", "pass"], repeat)
        lines.append(
            f"startup: python -c pass {floor_wall * 1000:.0f} ms wall,"
            f" {floor_cpu * 1000:.0f} ms CPU"
        )
        for name, extra in (
            ("--version", ["--version"]),
            ("validate", ["-c", str(policy), "validate"]),
        ):
            wall, cpu, code = timed([*barctl, *extra], repeat)
            target = TARGETS[name]
            lines.append(
                f"startup: barctl {name}: exit {code}, {wall * 1000:.0f} ms wall"
                f" = {wall / target:.2f}x the {target * 1000:.0f} ms target,"
                f" {cpu * 1000:.0f} ms CPU, {wall / floor_wall:.1f}x python -c pass;"
                f" heavy modules: {loaded(extra) or 'none'}"
            )
    for line in lines:
        print(line, flush=True)
    return lines


if __name__ == "__main__":
    main()
