"""Reading `barctl-manifest.json` back (issue 11): `parse(text, source) -> Manifest`.

Pure. A manifest read from the target is untrusted input: retention deletes what it lists, so
every file path must stay inside its run directory. Every problem is reported at once, located
`FILE:LINE:COL: key.path: message`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from barctl.errors import InputError, SourceProblem
from barctl.run import json_locations
from barctl.run.manifest import (
    FILE_KINDS,
    RESTORE_DIRECTORY,
    SCHEMA,
    UTC_ZONE,
    Manifest,
    ManifestFile,
    Target,
    Verification,
)

_SHA256 = re.compile(r"[0-9a-f]{64}")
_RUN_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[a-z0-9_]+-[a-z0-9]+")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_NODE = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(\.{_LABEL})*")
_FILE_NAME = re.compile(r"[A-Za-z0-9_+][A-Za-z0-9._+-]{0,254}")


class ManifestError(InputError):
    """A manifest that cannot be trusted; carries every problem, located."""


def parse(text: str, source: str) -> Manifest:
    """The manifest in `text` (read from `source`), or ManifestError with every problem."""
    try:
        document = json.loads(text, object_pairs_hook=json_locations.refuse_duplicate_keys)
    except json.JSONDecodeError as error:
        problem = SourceProblem(source, error.lineno, error.colno, "", error.msg)
        raise ManifestError([problem]) from None
    except ValueError as error:
        raise ManifestError([SourceProblem(source, 1, 1, "", str(error))]) from None
    problems = json_locations.LocatedProblems(text, source, json_locations.value_offsets(text))
    manifest = _Reader(document, problems).manifest()
    if problems.found or manifest is None:
        raise ManifestError(problems.found)
    return manifest


class _Reader:
    """Reads the decoded document key by key, recording a located problem for each bad value."""

    def __init__(self, document: Any, problems: json_locations.LocatedProblems) -> None:
        self.document = document
        self.problems = problems

    def manifest(self) -> Manifest | None:
        top = self._object(self.document, "", _TOP_KEYS)
        if top is None:
            return None
        schema = top.get("schema")
        if schema != SCHEMA or isinstance(schema, bool):
            self.problems.add(
                "schema", f"unsupported schema {schema!r}: this barctl reads {SCHEMA}"
            )
            return None
        target = self._target(top.get("target"))
        files = self._files(top.get("files"))
        verification = self._verification(top.get("verification"))
        manifest = Manifest(
            node=self._text(top, "node", "", _NODE.fullmatch, "an RFC 1123 host name"),
            run_id=self._text(top, "run_id", "", _RUN_ID.fullmatch, "a barctl run id"),
            plan=self._text(top, "plan", "", _is_name, "a plan name"),
            started_at=self._time(top, "started_at", ""),
            finished_at=self._time(top, "finished_at", ""),
            rear_version=self._text(top, "rear_version", "", None, ""),
            uefi=self._boolean(top, "uefi", ""),
            barctl_version=self._text(top, "barctl_version", "", None, ""),
            policy_sha256=self._text(top, "policy_sha256", "", _SHA256.fullmatch, _HEX_RULE),
            target=target or Target("nfs", "/"),
            files=files,
            verification=verification or Verification("full", False, "", _EPOCH),
        )
        return None if self.problems.found else manifest

    # ---- sections -----------------------------------------------------------------------------

    def _target(self, value: Any) -> Target | None:
        found = self._object(value, "target", ("scheme", "directory"))
        if found is None:
            return None
        scheme = self._choice(found, "scheme", "target", ("nfs", "sftp"))
        directory = self._text(found, "directory", "target", _is_absolute, "an absolute path")
        return Target(scheme, directory)  # type: ignore[arg-type]

    def _files(self, value: Any) -> tuple[ManifestFile, ...]:
        if not isinstance(value, list):
            self.problems.add("files", "must be a list")
            return ()
        files = []
        seen: set[str] = set()
        for index, item in enumerate(value):
            where = f"files[{index}]"
            found = self._object(item, where, ("path", "kind", "size_bytes", "sha256"))
            if found is None:
                continue
            path = self._text(found, "path", where, _is_run_file, _RUN_FILE_RULE)
            if path in seen:
                self.problems.add(f"{where}.path", f"{path!r} listed twice")
            seen.add(path)
            kind = self._choice(found, "kind", where, FILE_KINDS)
            size = self._count(found, "size_bytes", where)
            digest = self._text(found, "sha256", where, _SHA256.fullmatch, _HEX_RULE)
            files.append(ManifestFile(path, kind, size, digest))  # type: ignore[arg-type]
        return tuple(files)

    def _verification(self, value: Any) -> Verification | None:
        keys = ("mode", "passed", "reason", "checked_at")
        found = self._object(value, "verification", keys)
        if found is None:
            return None
        mode = self._choice(found, "mode", "verification", ("full", "quick"))
        passed = self._boolean(found, "passed", "verification")
        reason = found.get("reason")
        if reason is not None and not isinstance(reason, str):
            self.problems.add("verification.reason", "must be a string or null")
        elif passed and reason is not None:
            self.problems.add("verification.reason", "must be null when passed is true")
        elif passed is False and not reason:
            self.problems.add("verification.reason", "must say why when passed is false")
        checked_at = self._time(found, "checked_at", "verification")
        return Verification(mode, passed, reason, checked_at)  # type: ignore[arg-type]

    # ---- values -------------------------------------------------------------------------------

    def _object(self, value: Any, where: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.problems.add(where, "must be an object")
            return None
        for key in value:
            if key not in keys:
                self.problems.add(_join(where, key), f"unknown key (schema {SCHEMA})")
        missing = [key for key in keys if key not in value]
        for key in missing:
            self.problems.add(where, f"missing key {key!r}")
        return value

    def _text(
        self,
        found: dict[str, Any],
        key: str,
        where: str,
        rule: Callable[[str], Any] | None,
        rule_words: str,
    ) -> str:
        value = found.get(key)
        if key not in found:
            return ""
        if not isinstance(value, str) or not value:
            self.problems.add(_join(where, key), "must be a non-empty string")
            return ""
        if rule is not None and not rule(value):
            self.problems.add(_join(where, key), f"{value!r} is not {rule_words}")
        return value

    def _choice(self, found: dict[str, Any], key: str, where: str, choices: tuple[str, ...]) -> str:
        value = found.get(key)
        if key in found and value not in choices:
            self.problems.add(_join(where, key), f"{value!r} is not one of {', '.join(choices)}")
        return str(value)

    def _boolean(self, found: dict[str, Any], key: str, where: str) -> bool:
        value = found.get(key)
        if key in found and not isinstance(value, bool):
            self.problems.add(_join(where, key), "must be true or false")
        return bool(value)

    def _count(self, found: dict[str, Any], key: str, where: str) -> int:
        value = found.get(key)
        if key not in found:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.problems.add(_join(where, key), "must be a whole number of bytes, 0 or more")
            return 0
        return value

    def _time(self, found: dict[str, Any], key: str, where: str) -> datetime:
        value = found.get(key)
        if key not in found:
            return _EPOCH
        parsed = _parse_time(value) if isinstance(value, str) else None
        if parsed is None:
            self.problems.add(_join(where, key), f"{value!r} is not an RFC 3339 UTC time")
            return _EPOCH
        return parsed


_TOP_KEYS = (
    "schema",
    "node",
    "run_id",
    "plan",
    "started_at",
    "finished_at",
    "rear_version",
    "uefi",
    "barctl_version",
    "policy_sha256",
    "target",
    "files",
    "verification",
)
_HEX_RULE = "64 lowercase hex digits"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC_ZONE)
_RUN_FILE_RULE = f"a file name, or {RESTORE_DIRECTORY}/<file name>, inside the run directory"


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _is_name(value: str) -> bool:
    return re.fullmatch(r"[a-z][a-z0-9_]*", value) is not None


def _is_absolute(value: str) -> bool:
    return value.startswith("/") and "\x00" not in value and "\n" not in value


def _is_run_file(value: str) -> bool:
    """A file directly in the run directory, or in its restore directory: never `..`, never
    absolute, never hidden, so that deleting what a manifest lists stays inside the run."""
    parts = value.split("/")
    if len(parts) == 2 and parts[0] != RESTORE_DIRECTORY:
        return False
    return 1 <= len(parts) <= 2 and _FILE_NAME.fullmatch(parts[-1]) is not None


def _parse_time(value: str) -> datetime | None:
    """An RFC 3339 time with `Z` or a zero offset, as an aware UTC datetime; else None."""
    if not re.fullmatch(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
        r"(Z|[+-]00:00)",
        value,
    ):
        return None
    try:
        parsed = datetime.strptime(value[:19] + "+0000", "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
    fraction = re.search(r"\.([0-9]+)", value)
    microseconds = int((fraction.group(1) + "000000")[:6]) if fraction else 0
    return parsed + timedelta(microseconds=microseconds)
