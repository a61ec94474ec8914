"""The policy's `rear` section: how barctl writes each node's /etc/rear/local.conf.

Rendered by barctl.run.rear_config; every field documents itself as policy_sections' do.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from barctl.config.policy_fields import (
    MAXIMUM_BYTES,
    Name,
    Names,
    _list_to_tuple,
    check_no_control,
)
from barctl.config.policy_sections import _Model

# Values become single-quoted words in ReaR's local.conf; a newline would still be quoted, but
# an operator never means one, and it would make the rendered file hard to read.
RearWord = Annotated[str, AfterValidator(check_no_control), Field(min_length=1)]
RearWords = Annotated[tuple[RearWord, ...], BeforeValidator(_list_to_tuple)]


class RearGroupSection(_Model):
    """Settings of the nodes of one inventory group, overriding the plan-wide ones."""

    group: Name = Field(
        description="Inventory group these settings apply to.", examples=["Controller"]
    )
    networking_preparation_commands: RearWords = Field(
        description="NETWORKING_PREPARATION_COMMANDS for this group's nodes.",
        examples=[("ip link set br-ex up",)],
    )


class RearSection(_Model):
    """How barctl writes each node's /etc/rear/local.conf."""

    iso_default: Literal["boothd", "boothd0", "boothd1", "manual", "automatic", "unattended"] = (
        Field(
            default="boothd",
            description="ISO_DEFAULT, what the ISO boots after the timeout: boothd (ReaR's"
            " default) boots the disk, so an ISO left attached does nothing; manual boots the"
            ' rescue system for `rear recover` (the guide\'s "Recover <node>" entry is always'
            " in the menu); automatic runs `rear recover` at once (the vendor role's choice).",
            examples=["manual"],
        )
    )
    compress: Literal["gzip", "bzip2", "xz", "none"] = Field(
        default="gzip",
        description="Archive compression (BACKUP_PROG_COMPRESS_OPTIONS and _SUFFIX).",
        examples=["xz"],
    )
    exclude: RearWords = Field(
        default=("/data/*", "/tmp/*", "/ctl_plane_backups/*"),
        description="tar patterns appended to ReaR's BACKUP_PROG_EXCLUDE (its own defaults are"
        " kept); the default is the vendor guide's list.",
        examples=[("/data/*", "/tmp/*", "/ctl_plane_backups/*")],
    )
    networking_preparation_commands: RearWords = Field(
        default=(),
        description="NETWORKING_PREPARATION_COMMANDS: commands the rescue system runs before"
        " its network set-up (the guide's OVS bridge lines, 1.4/2.4/3.4).",
        examples=[("ip link add br-ex type bridge", "ip link set br-ex up")],
    )
    exclude_recreate_volume_groups: Names = Field(
        default=(),
        description="LVM volume groups not recreated at restore (cinder's, e.g."
        " cinder-volumes): EXCLUDE_RECREATE.",
        examples=[("cinder-volumes",)],
    )
    iso_file_size_limit_bytes: Annotated[int, Field(ge=0, le=MAXIMUM_BYTES)] | None = Field(
        default=None,
        description="ISO_FILE_SIZE_LIMIT (ReaR 2.7+: a file of this size or more refuses the"
        " ISO, 2 GiB by default; with sftp the archive is inside the ISO). null keeps ReaR's;"
        " 0 skips the check (only with xorrisofs, which writes large files).",
        examples=[0],
    )
    groups: Annotated[tuple[RearGroupSection, ...], BeforeValidator(_list_to_tuple)] = Field(
        default=(),
        description="Per-group overrides, the first listed group a node belongs to wins.",
        examples=[()],
    )
