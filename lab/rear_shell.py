"""ReaR's configuration, read the way ReaR reads it: a real bash sources the files (stdlib only).

`usr/sbin/rear` is a bash script that `source`s `conf/default.conf`, then `$CONFIG_DIR/os.conf`
and `$CONFIG_DIR/$WORKFLOW.conf`, then `site.conf`, `local.conf` and `rescue.conf`, then each
`-C` file (`$CONFIG_DIR/NAME`, else `NAME.conf`; an absolute NAME as is). The lab does the same
with a real `bash`, so quoting, arrays, `+=` and `$VAR` expansion behave exactly as in ReaR, and
a config file that is broken for bash is broken here too.

What a failed `source` does depends on the version (`usr/sbin/rear`):
- 2.4, 2.6: `Source ... || true` for site/local/rescue and an unchecked `Source` for `-C`
  files: ReaR goes on with whatever the file set before it failed.
- 2.7, 2.8: `Source ... || Error "Failed to Source $file"`: ReaR stops.
(`source` returns the status of the file's last command, so only a failure there, or a syntax
error that ends the file, counts: as in bash.)

The defaults are the lines of each version's `conf/default.conf` the lab uses, copied as written.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# `rear -V` of each version: VERSION and RELEASE_DATE of the release tarballs / distribution
# packages (the git tags say "Git"; 2.8's usr/sbin/rear has RELEASE_DATE="2024-12-19").
RELEASE_DATES = {
    "2.4": "2018-06-21",
    "2.6": "2020-06-17",
    "2.7": "2022-07-13",
    "2.8": "2024-12-19",
}

# conf/default.conf, identical in 2.4, 2.6, 2.7 and 2.8 (line numbers differ).
_COMMON_DEFAULTS = """\
BACKUP=REQUESTRESTORE
OUTPUT=ISO
BACKUP_URL=
OUTPUT_URL=
OUTPUT_PREFIX="$HOSTNAME"
ISO_DIR=$VAR_DIR/output
ISO_PREFIX="rear-$HOSTNAME"
ISO_DEFAULT="boothd"
LOGFILE="$LOG_DIR/rear-$HOSTNAME.log"
BACKUP_PROG_SUFFIX=".tar"
BACKUP_PROG_COMPRESS_SUFFIX=".gz"
BACKUP_PROG_CRYPT_KEY=""
BACKUP_PROG_EXCLUDE=( '/tmp/*' '/dev/shm/*' "$VAR_DIR/output/*" )
BACKUP_TYPE=
"""

# conf/default.conf lines that differ between versions.
_VERSION_DEFAULTS = {
    "2.4": """\
test "$BACKUP_PROG_ARCHIVE" || BACKUP_PROG_ARCHIVE="backup"
NETFS_PREFIX="$HOSTNAME"
NETFS_KEEP_OLD_BACKUP_COPY=
NETFS_RESTORE_CAPABILITIES=( 'No' )
""",
    "2.6": """\
OUTPUT_LFTP_OPTIONS=""
test "$BACKUP_PROG_ARCHIVE" || BACKUP_PROG_ARCHIVE="backup"
NETFS_PREFIX="$HOSTNAME"
NETFS_KEEP_OLD_BACKUP_COPY=
NETFS_RESTORE_CAPABILITIES=( 'No' )
""",
    "2.7": """\
OUTPUT_LFTP_OPTIONS=""
ISO_FILE_SIZE_LIMIT=2147483648
test "$BACKUP_PROG_ARCHIVE" || BACKUP_PROG_ARCHIVE="backup"
NETFS_PREFIX="$HOSTNAME"
NETFS_KEEP_OLD_BACKUP_COPY=
NETFS_RESTORE_CAPABILITIES=( 'No' )
""",
    "2.8": """\
OUTPUT_LFTP_OPTIONS=()
OUTPUT_LFTP_USERNAME=${OUTPUT_LFTP_USERNAME:-}
OUTPUT_LFTP_PASSWORD=${OUTPUT_LFTP_PASSWORD:-}
ISO_FILE_SIZE_LIMIT=2147483648
BACKUP_PROG_ARCHIVE="${BACKUP_PROG_ARCHIVE:-backup}"
NETFS_PREFIX="$OUTPUT_PREFIX"
NETFS_KEEP_OLD_BACKUP_COPY=
NETFS_RESTORE_CAPABILITIES=( 'No' )
""",
}

VARIABLES = (
    "BACKUP",
    "OUTPUT",
    "BACKUP_URL",
    "OUTPUT_URL",
    "OUTPUT_PREFIX",
    "NETFS_PREFIX",
    "ISO_PREFIX",
    "ISO_DIR",
    "LOGFILE",
    "BACKUP_PROG_ARCHIVE",
    "BACKUP_PROG_SUFFIX",
    "BACKUP_PROG_COMPRESS_SUFFIX",
    "BACKUP_PROG_CRYPT_KEY",
    "BACKUP_PROG_EXCLUDE",
    "BACKUP_TYPE",
    "OUTPUT_LFTP_OPTIONS",
    "OUTPUT_LFTP_USERNAME",
    "OUTPUT_LFTP_PASSWORD",
    "ISO_FILE_SIZE_LIMIT",
)

# The driver: usr/sbin/rear's "Combining configuration files" section, then a dump of the
# variables (NUL-separated) and `set | grep '^NETFS_'` (rescue/NETFS/default/
# 600_store_NETFS_variables.sh). Names start with __lab_ so that a config file cannot clash.
_DRIVER = r"""
HOSTNAME=$1; __lab_workflow=$2; CONFIG_DIR=$3; __lab_out=$4; __lab_strict=$5
CONFIG_APPEND_FILES=$6; WORKFLOW=$__lab_workflow
SHARE_DIR=/usr/share/rear; VAR_DIR=/var/lib/rear; LOG_DIR=/var/log/rear
shopt -s nullglob extglob
eval "$__LAB_REAR_DEFAULTS"
__lab_fail() { printf '%s' "$1" > "$__lab_out/error"; exit 1; }
__lab_source() {
    source "$1" || { test "$__lab_strict" && __lab_fail "Failed to Source $1"; }
    return 0
}
for __lab_c in os "$__lab_workflow"; do
    test -r "$CONFIG_DIR/$__lab_c.conf" && __lab_source "$CONFIG_DIR/$__lab_c.conf"
done
for __lab_c in site local rescue; do
    __lab_f="$CONFIG_DIR/$__lab_c.conf"
    if test -r "$__lab_f"; then
        test "$(tr -d -c '\r' < "$__lab_f")" &&
            __lab_fail "Carriage return character in $__lab_f (perhaps DOS or Mac format)"
        __lab_source "$__lab_f"
    fi
done
for __lab_c in $CONFIG_APPEND_FILES; do
    case "$__lab_c" in (/*) __lab_f=$__lab_c ;; (*) __lab_f="$CONFIG_DIR/$__lab_c" ;; esac
    if test -r "$__lab_f"; then __lab_source "$__lab_f"
    elif test -r "$__lab_f.conf"; then __lab_source "$__lab_f.conf"
    else echo "There is '-C $__lab_c' but neither '$__lab_f' nor '$__lab_f.conf' can be read." >&2
    fi
done
{
for __lab_n in $__LAB_REAR_VARIABLES; do
    __lab_d=$(declare -p "$__lab_n" 2>/dev/null) || continue
    __lab_flags=${__lab_d#declare -}; __lab_flags=${__lab_flags%% *}
    if [[ $__lab_flags == *a* ]]; then
        eval '__lab_v=( "${'"$__lab_n"'[@]}" )'
        printf 'A\0%s\0%s\0' "$__lab_n" "${#__lab_v[@]}"
        (( ${#__lab_v[@]} )) && printf '%s\0' "${__lab_v[@]}"
    else
        printf 'S\0%s\0%s\0' "$__lab_n" "${!__lab_n}"
    fi
done
} > "$__lab_out/variables"
set | grep '^NETFS_' > "$__lab_out/netfs"
exit 0
"""


@dataclass(frozen=True)
class RearConfig:
    """The variables ReaR ends up with, and what it could not read."""

    scalars: dict[str, str]
    arrays: dict[str, list[str]]
    netfs_lines: str = ""
    error: str = ""  # ReaR's Error message ("Failed to Source ..."); empty when it went on
    messages: str = ""  # what bash printed while sourcing (ReaR logs it)

    def get(self, name: str, default: str = "") -> str:
        """A scalar as `$NAME` reads it (an array's first element)."""
        if name in self.scalars:
            return self.scalars[name]
        values = self.arrays.get(name)
        return values[0] if values else default


def version_at_least(version: str, minimum: str) -> bool:
    """Compare ReaR versions like "2.6" and "2.7"."""
    return tuple(int(part) for part in version.split(".")) >= tuple(
        int(part) for part in minimum.split(".")
    )


def defaults(version: str) -> str:
    """default.conf's lines for `version` (unknown versions read as the nearest older one)."""
    known = [v for v in RELEASE_DATES if version_at_least(version, v)]
    return _COMMON_DEFAULTS + _VERSION_DEFAULTS[known[-1] if known else "2.4"]


def read_config(
    *, host: str, version: str, workflow: str, config_dir: Path, append: str = ""
) -> RearConfig:
    """Source the configuration as `rear -c CONFIG_DIR [-C APPEND] WORKFLOW` would."""
    strict = "1" if version_at_least(version, "2.7") else ""
    with tempfile.TemporaryDirectory(prefix="lab-rear-") as scratch:
        out = Path(scratch)
        result = subprocess.run(
            [
                "bash",
                "--noprofile",
                "--norc",
                "-c",
                _DRIVER,
                "rear",
                host,
                workflow,
                str(config_dir),
                str(out),
                strict,
                append,
            ],
            env={
                "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                "__LAB_REAR_DEFAULTS": defaults(version),
                "__LAB_REAR_VARIABLES": " ".join(VARIABLES),
            },
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        error_file = out / "error"
        if error_file.exists() or not (out / "variables").exists():
            error = error_file.read_text() if error_file.exists() else "bash failed"
            return RearConfig({}, {}, error=error, messages=result.stderr)
        scalars, arrays = _parse_variables((out / "variables").read_bytes())
        netfs = (out / "netfs").read_text()
    return RearConfig(scalars, arrays, netfs_lines=netfs, messages=result.stderr)


def _parse_variables(data: bytes) -> tuple[dict[str, str], dict[str, list[str]]]:
    fields = data.decode(errors="surrogateescape").split("\0")
    scalars: dict[str, str] = {}
    arrays: dict[str, list[str]] = {}
    index = 0
    while index + 2 < len(fields) + 1 and fields[index] in ("S", "A"):
        kind, name, value = fields[index : index + 3]
        if kind == "S":
            scalars[name] = value
            index += 3
        else:
            count = int(value)
            arrays[name] = fields[index + 3 : index + 3 + count]
            index += 3 + count
    return scalars, arrays
