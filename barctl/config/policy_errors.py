"""Turn pydantic validation errors into located, readable `FILE:LINE:COL: key.path: message` lines.

Where a problem points:
- an unknown key: at the key itself;
- a missing key: at the key of the mapping that lacks it (line 1 for the top level);
- a bad mapping (e.g. "give exactly one of nfs or sftp"): at that mapping's key;
- any other value: at the value.

PyYAML reads YAML 1.1, so `NO` is a boolean, `2:30` is 150 and `0700` is 448
(ecosystem.md §8). Errors on such values get a hint, and base-60 or octal numbers are reported
even where a number is accepted, since nobody writes them on purpose.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Iterator, Sequence
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from barctl.config.yamlsource import YamlDocument
from barctl.errors import SourceProblem

_BOOL_TAG = "tag:yaml.org,2002:bool"
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_OCTAL = re.compile(r"[-+]?0[0-7_]+")
BOOLEAN_HINT = "YAML 1.1 reads NO/yes/on/off as booleans: quote it"
_EXPECTED = {
    "string_type": "a string",
    "is_instance_of": "a string",
    "int_type": "an integer",
    "bool_type": "true or false",
    "tuple_type": "a list",
    "model_type": "a mapping (key: value lines)",
    "dict_type": "a mapping (key: value lines)",
}
_STRING_EXPECTED = ("string_type", "is_instance_of", "literal_error")
_LIMITS = {
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
}
_SFTP_KEY_ONLY = (
    "no longer used: ReaR uploads with root's SSH key on each node; a password would sit in"
    " lftp's argv (2.8) or in the ISO; remove the key"
)
_UNKNOWN_KEY_MESSAGES: dict[tuple[str, ...], str] = {
    # ReaR 2.4-2.7 have no OUTPUT_LFTP_PASSWORD; 2.8 puts it in lftp's argv, and any config
    # file is copied into the ISO (build/GNU/Linux/100_copy_as_is.sh): keys only (issue 10).
    ("backup_target", "sftp", "password"): _SFTP_KEY_ONLY,
    ("backup_target", "sftp", "password_file"): _SFTP_KEY_ONLY,
    ("plans", "undercloud", "mode"): (
        "mode (rolling | offline) applies only to the controlplane plan"
    ),
}

Position = tuple[int, int]


def problems_from_validation(
    document: YamlDocument,
    error: ValidationError,
    model: type[BaseModel],
    extra: Sequence[SourceProblem] = (),
) -> list[SourceProblem]:
    """Every validation error as a located problem, plus `extra` ones for other keys; sorted."""
    problems = [_problem(document, model, details) for details in error.errors()]
    seen = {problem.key_path for problem in problems}
    problems += [problem for problem in extra if problem.key_path not in seen]
    return sorted(problems, key=lambda problem: (problem.line, problem.column, problem.key_path))


def _problem(
    document: YamlDocument, model: type[BaseModel], details: ErrorDetails
) -> SourceProblem:
    loc = details["loc"]
    kind = details["type"]
    if kind == "missing":
        line, column = _position(document, loc[:-1], at_key=True)
        message = f"missing required key {loc[-1]!r}"
    elif kind == "extra_forbidden":
        line, column = _position(document, loc, at_key=True)
        message = _unknown_key_message(model, loc)
    else:
        line, column = _position(document, loc, at_key=False)
        message = _value_message(details, _node_at(document.root, loc)[1])
    return SourceProblem(document.path, line, column, ".".join(map(str, loc)), message)


def _node_at(
    root: yaml.Node | None, loc: Sequence[str | int]
) -> tuple[yaml.Node | None, yaml.Node | None]:
    """(key node, value node) at `loc`; the deepest pair found when the path stops early."""
    key_node, node = None, root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            # The last pair wins: a merge key (`<<: *x`) puts the merged pairs first.
            pairs = reversed(node.value)
            pair = next((pair for pair in pairs if str(pair[0].value) == str(part)), None)
            if pair is None:
                break
            key_node, node = pair
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            key_node, node = None, node.value[part]
        else:
            break
    return key_node, node


def _position(document: YamlDocument, loc: Sequence[str | int], *, at_key: bool) -> Position:
    key_node, node = _node_at(document.root, loc)
    if key_node is not None and (at_key or isinstance(node, yaml.MappingNode)):
        node = key_node
    if node is None:
        return 1, 1
    return node.start_mark.line + 1, node.start_mark.column + 1


def _unknown_key_message(model: type[BaseModel], loc: Sequence[str | int]) -> str:
    special = _UNKNOWN_KEY_MESSAGES.get(tuple(map(str, loc)))
    if special:
        return special
    key = str(loc[-1])
    section = _model_at(model, loc[:-1])
    allowed = sorted(section.model_fields) if section else []
    what = "plan name" if tuple(loc[:-1]) == ("plans",) else "key"
    message = f"unknown {what} {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    if allowed:
        message += f"; allowed here: {', '.join(allowed)}"
    return message


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = model
    for part in loc:
        field = current.model_fields.get(str(part)) if current else None
        current = _model_in(field.annotation) if field else None
    return current


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _model_in(argument)
        if found:
            return found
    return None


def _value_message(details: ErrorDetails, node: yaml.Node | None) -> str:
    kind, value, context = details["type"], details["input"], details.get("ctx") or {}
    if kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}, got {_describe(value)}"
    elif kind == "literal_error":
        message = f"expected {context['expected']}, got {_describe(value)}"
    elif kind in _LIMITS:
        message = f"{_LIMITS[kind].format(**context)}, got {value!r}"
    elif kind in ("too_short", "string_too_short"):
        message = "must not be empty"
    else:
        message = details["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    hint = _yaml11_hint(node, value) if kind in _STRING_EXPECTED else None
    return f"{message}; {hint}" if hint else message


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    kinds = {type(None): "nothing (null)", list: "a list", tuple: "a list", dict: "a mapping"}
    return kinds.get(type(value), type(value).__name__)


def _yaml11_hint(node: yaml.Node | None, value: object) -> str | None:
    if not isinstance(node, yaml.ScalarNode):
        return None
    if node.tag == _BOOL_TAG:
        return BOOLEAN_HINT
    if node.tag in _NUMBER_TAGS:
        return _number_hint(str(node.value), value)
    return None


def _number_hint(text: str, value: object) -> str | None:
    if ":" in text:
        return f"YAML 1.1 reads {text} as the base-60 number {value}: quote times"
    if _OCTAL.fullmatch(text):
        return f"YAML 1.1 reads {text} as the octal number {value}: quote it"
    return None


def suspicious_scalars(document: YamlDocument) -> list[SourceProblem]:
    """Base-60 (`2:30`) and octal (`0700`) numbers anywhere: YAML 1.1 misreads them silently."""
    problems = []
    for loc, node in _scalars(document.root, ()):
        if node.tag not in _NUMBER_TAGS:
            continue
        text = str(node.value)
        hint = _number_hint(text, yaml.safe_load(text))
        if hint:
            line, column = node.start_mark.line + 1, node.start_mark.column + 1
            dotted = ".".join(map(str, loc))
            advice = " (durations are integer seconds)" if ":" in text else ", or drop the zero"
            problems.append(SourceProblem(document.path, line, column, dotted, hint + advice))
    return problems


def _scalars(
    node: yaml.Node | None, loc: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], yaml.ScalarNode]]:
    if isinstance(node, yaml.ScalarNode):
        yield loc, node
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            yield from _scalars(value_node, (*loc, str(key_node.value)))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _scalars(item, (*loc, index))
