"""The restore runbook assembled and printed: text for operators, JSON (schema RUNBOOK_SCHEMA).

Pure. The JSON schema is documented in docs/restore.md ("Runbook for one node and run").
"""

from __future__ import annotations

from typing import Any

from barctl.console import runbook_database, runbook_recover
from barctl.console.runbook import Runbook, Section, Subject
from barctl.run import rear_config

RUNBOOK_SCHEMA = "barctl.restore-runbook/1"


def build(subject: Subject) -> Runbook:
    """The procedure for `subject`: files, boot and recover, then the manual restores."""
    sections = [runbook_recover.files_section(subject)]
    if subject.ceph_monitor:
        sections.append(runbook_recover.ceph_section(subject))
    sections.append(runbook_recover.recover_section(subject))
    if subject.undercloud:
        sections.append(runbook_database.undercloud_database_section(subject))
    else:
        sections.append(runbook_recover.pacemaker_section(subject))
        sections.append(runbook_database.galera_section(subject))
    return Runbook(subject, tuple(sections))


def paths_on_target(runbook: Runbook) -> tuple[str, ...]:
    """Every path of the backup node the runbook names."""
    subject = runbook.subject
    paths = [subject.iso_path(), *(item.path for item in subject.files)]
    archive = subject.archive_path()
    if archive is not None:
        paths.append(archive)
    return tuple(dict.fromkeys(paths))


def to_json(runbook: Runbook) -> dict[str, Any]:
    """The runbook as JSON (schema RUNBOOK_SCHEMA, docs/restore.md)."""
    subject = runbook.subject
    target = subject.target
    return {
        "schema": RUNBOOK_SCHEMA,
        "node": subject.node,
        "address": subject.address,
        "plan": subject.plan,
        "run_id": subject.run_id,
        "role": "undercloud" if subject.undercloud else "controller",
        "ceph_monitor": subject.ceph_monitor,
        "uefi": subject.uefi,
        "verification": subject.verification,
        "run_nodes": list(subject.run_nodes),
        "backup_node": {"name": subject.backup_node, "address": subject.backup_address},
        "target": {
            "scheme": target.scheme,
            "directory": target.path,
            "backup_url": target.backup_url,
            "output_url": target.output_url,
        },
        "iso": subject.iso_path(),
        "recover": _recover_json(subject),
        "files": [vars(item).copy() for item in subject.files],
        "paths_on_target": list(paths_on_target(runbook)),
        "sections": [_section_json(section) for section in runbook.sections],
    }


def _recover_json(subject: Subject) -> dict[str, Any]:
    inside = subject.target.scheme == "sftp"
    return {
        "backup_url": subject.target.backup_url,
        "netfs_prefix": rear_config.run_prefix(subject.node, subject.run_id),
        "archive_name": subject.archive_name,
        "archive_path": subject.archive_path(),
        "archive_in_iso": f"/backup/{subject.archive_name}" if inside else None,
    }


def _section_json(section: Section) -> dict[str, Any]:
    steps = [{"text": step.text, "commands": list(step.commands)} for step in section.steps]
    return {"key": section.key, "title": section.title, "guide": section.guide, "steps": steps}


def to_text(runbook: Runbook) -> str:
    """The runbook as an operator reads it: numbered sections, commands indented by `$`."""
    subject = runbook.subject
    lines = [
        f"Restore runbook: {subject.node} ({subject.address}), run {subject.run_id},"
        f" plan {subject.plan}",
        f"Backup node: {subject.backup_node} ({subject.backup_address}),"
        f" target {subject.target.output_url}",
    ]
    if subject.verification:
        lines.append(f"Verification: {subject.verification}")
    for number, section in enumerate(runbook.sections, 1):
        lines += ["", f"{number}. {section.title} ({section.guide})"]
        for index, step in enumerate(section.steps, 1):
            lines.append(f"   {number}.{index} {step.text}")
            lines += [f"        $ {command}" for command in step.commands]
    return "\n".join(lines) + "\n"
