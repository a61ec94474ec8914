"""barctl: backup orchestrator for TripleO undercloud and control plane."""

__version__ = "0.1.0"
