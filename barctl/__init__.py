"""barctl: backup orchestrator for TripleO undercloud and control plane.

Layers, lowest first; a package imports only its own layer and those below
(tests/unit/test_imports.py checks it):

- top-level modules, the shared vocabulary: `model` (nodes, facts, command results),
  `errors`, `outcome`, `reasons` (what a failure means, decided once), `redaction`;
- `config`: what barctl is told, checked once at load;
- `history`: the SQLite record of what happened;
- `observe`: metrics and logs;
- `run`: one backup run, from the gate to the record;
- `service`: loading, and the systemd daemon;
- `console`: the command line.
"""

__version__ = "0.1.0"
