"""The machine barctl runs on: its directories, credential files and environment, resolved once.

The policy names paths; systemd may replace them ($STATE_DIRECTORY, $RUNTIME_DIRECTORY,
$CREDENTIALS_DIRECTORY, systemd.exec(5)). The CLI and the daemon build one `Site` from the policy
and the process environment right after loading, and everything that opens the history, a lock
or a credential file asks the site instead of re-deriving the path from `environ`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from barctl.config.policy import (
    Policy,
    effective_private_key,
    effective_runtime_directory,
    effective_state_directory,
)

ACCEPTED_HOSTS_FILE_NAME = "known_hosts.accepted"
HISTORY_FILE_NAME = "history.db"


@dataclass(frozen=True)
class Site:
    """Paths and environment of this barctl installation (frozen; rebuilt on a reload)."""

    state_directory: Path
    runtime_directory: Path
    private_key: Path
    known_hosts: Path
    # accept-new records new host keys here; None in strict mode (never written).
    accept_new_hosts_file: Path | None
    # Whether the credential files come from systemd's LoadCredential= (named in messages).
    systemd_credentials: bool
    log_format: str
    environ: Mapping[str, str] = field(repr=False)

    @classmethod
    def from_policy(cls, policy: Policy, environ: Mapping[str, str]) -> Site:
        """Resolve every path once: systemd's variables win over the policy's keys."""
        state = effective_state_directory(policy, environ)
        accept_new = policy.ssh.host_key_policy == "accept-new"
        return cls(
            state_directory=state,
            runtime_directory=effective_runtime_directory(policy, environ),
            private_key=effective_private_key(policy, environ),
            known_hosts=policy.ssh.known_hosts,
            accept_new_hosts_file=state / ACCEPTED_HOSTS_FILE_NAME if accept_new else None,
            systemd_credentials=bool(environ.get("CREDENTIALS_DIRECTORY", "").split(":")[0]),
            log_format=environ.get("BARCTL_LOG_FORMAT") or policy.log.format,
            environ=dict(environ),
        )

    @property
    def history_path(self) -> Path:
        """The history database."""
        return self.state_directory / HISTORY_FILE_NAME
