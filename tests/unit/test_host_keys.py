"""Known host keys parsed once per process, in one pass, verifying as paramiko's own loader."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import paramiko
import pytest

from barctl.run import host_keys


def key_blob(kind: str = "ssh-ed25519") -> str:
    """A syntactically valid public key of `kind` (paramiko parses it; nobody signs with it)."""
    if kind == "ssh-ed25519":
        raw = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + os.urandom(32)
    else:
        raw = paramiko.RSAKey.generate(1024).asbytes()
    return base64.b64encode(raw).decode()


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    host_keys.forget()


def mixed_file(path: Path) -> list[str]:
    """Plain and hashed names, two key types, duplicates, comments and broken lines; returns
    every name to look up."""
    ed, other, rsa = key_blob(), key_blob(), key_blob("ssh-rsa")
    hashed = paramiko.HostKeys.hash_host("198.18.0.12")
    lines = [
        "# comment",
        "",
        f"198.18.0.10,ctl-0 ssh-ed25519 {ed}",
        f"198.18.0.10 ssh-rsa {rsa}",
        f"ctl-0 ssh-ed25519 {ed}",  # the same name and key again
        f"198.18.0.11 ssh-ed25519 {other}",
        f"198.18.0.11 ssh-ed25519 {ed}",  # a second key of one type: the first one wins
        f"{hashed} ssh-ed25519 {other}",
        f"[198.18.0.13]:2222 ssh-ed25519 {ed}",
        "198.18.0.14 ssh-ed25519 not-base64!",
        "only-two fields",
    ]
    path.write_text("\n".join(lines) + "\n")
    return ["198.18.0.10", "ctl-0", "198.18.0.11", "198.18.0.12", "[198.18.0.13]:2222",
            "198.18.0.14", "198.18.0.99"]  # fmt: skip


def described(found: Any) -> dict[str, str] | None:
    """A lookup's answer as {key type: base64 of the key paramiko would compare}."""
    if found is None:
        return None
    return {kind: found[kind].get_base64() for kind in found}


def test_every_name_finds_the_keys_paramiko_finds(tmp_path: Path) -> None:
    """For plain, hashed, bracketed and unknown names, one-pass loading finds exactly the keys
    (per type) paramiko's own `HostKeys.load` finds; a line that does not parse is skipped."""
    path = tmp_path / "known_hosts"
    names = mixed_file(path)
    ours = host_keys.known_host_keys([str(path)])
    # paramiko raises on the bad base64 line where OpenSSH skips it: compare without it.
    clean = tmp_path / "clean"
    clean.write_text(path.read_text().replace("198.18.0.14 ssh-ed25519 not-base64!\n", ""))
    theirs = paramiko.HostKeys(str(clean))
    for name in names:
        assert described(ours.lookup(name)) == described(theirs.lookup(name)), name


def test_a_file_is_parsed_once_until_it_changes(tmp_path: Path) -> None:
    """The same object serves every connection; appending a key (accept-new) is seen at once,
    and a missing file contributes nothing."""
    known, accepted = tmp_path / "known_hosts", tmp_path / "accepted"
    known.write_text(f"198.18.0.10 ssh-ed25519 {key_blob()}\n")
    files = [str(known), str(accepted)]
    first = host_keys.known_host_keys(files)
    assert host_keys.known_host_keys(files) is first
    assert first.lookup("198.18.0.20") is None
    with accepted.open("a") as handle:
        handle.write(f"198.18.0.20 ssh-ed25519 {key_blob()}\n")
    again = host_keys.known_host_keys(files)
    assert again is not first
    assert again.lookup("198.18.0.20") is not None
    assert again.lookup("198.18.0.10") is not None


def test_loading_never_looks_names_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading 2000 lines does no per-line lookup (paramiko's `check` on every line made the
    load quadratic: 2.2 s at 1000 lines, bench/exec_bench.py)."""
    lines = [f"198.19.{n // 250}.{n % 250} ssh-ed25519 {key_blob()}" for n in range(2000)]
    path = tmp_path / "known_hosts"
    path.write_text("\n".join(lines) + "\n")

    def no_lookup(self: paramiko.HostKeys, hostname: str) -> None:
        raise AssertionError(f"lookup({hostname}) while loading")

    monkeypatch.setattr(paramiko.HostKeys, "lookup", no_lookup)
    keys = host_keys.known_host_keys([str(path)])
    monkeypatch.undo()
    assert keys.lookup("198.19.7.249") is not None
