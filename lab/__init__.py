"""barctl's test bed: hosts in network namespaces with real sshd and a simulated cluster."""

from lab.lab import (
    HostSpec,
    Invocation,
    Lab,
    LabUnavailable,
    down_from_record,
    health_problems,
    standard_hosts,
    unavailable_reason,
)

__all__ = [
    "HostSpec",
    "Invocation",
    "Lab",
    "LabUnavailable",
    "down_from_record",
    "health_problems",
    "standard_hosts",
    "unavailable_reason",
]
