"""Entry point of every lab stand-in: ``python -I -S lab/standin_launcher.py NAME ARGS...``.

Python compiles the script it is started with on every start and caches the bytecode of imported
modules only, so starting the 1,000-line lab/standin.py itself cost ~10 ms of compiling at every
stand-in call (lab CPU that each benchmark counts as the nodes'). This launcher is the script;
lab/standin.py is imported from its cached bytecode. Stdlib only: lab/__init__.py needs PyYAML,
which is not on this path, so this directory becomes a bare `lab` package for the stand-ins.
"""

import os
import sys
import types

_package = types.ModuleType("lab")
_package.__path__ = [os.path.dirname(os.path.realpath(__file__))]
sys.modules["lab"] = _package

from lab import standin  # noqa: E402 (after the bare package exists)

sys.exit(standin.main(sys.argv))
