"""The lab's `rear` as real ReaR: config reading, result paths, the ISO, recover, versions."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest

from lab import Lab, rear_iso, rear_shell

pytestmark = pytest.mark.lab

RUN_CONF = "barctl-run.conf"


def write_config(lab: Lab, host: str, name: str, text: str) -> None:
    """Put a file into the host's /etc/rear."""
    (lab.host_directory(host, "etc-rear") / name).write_text(text)


def nfs_url(lab: Lab) -> str:
    return f"nfs://{lab.address('backup-0')}/ctl_plane_backups"


def sftp_url(lab: Lab, user: str = "") -> str:
    return f"sftp://{user + '@' if user else ''}{lab.address('backup-0')}/ctl_plane_backups"


def rear(lab: Lab, host: str, arguments: str) -> tuple[int, str]:
    result = lab.ssh(host, f"rear {arguments}", timeout=30)
    return result.returncode, result.stdout + result.stderr


def per_run_conf(run: str) -> str:
    """The per-run file with NETFS_PREFIX/OUTPUT_PREFIX <node>/<run id> (what barctl moves to)."""
    return (
        f"NETFS_PREFIX=\"$HOSTNAME\"/'{run}'\nOUTPUT_PREFIX=\"$HOSTNAME\"/'{run}'\n"
        f"ISO_PREFIX=\"$HOSTNAME\"-'{run}'\n"
    )


def nfs_local_conf(lab: Lab) -> str:
    return f"BACKUP=NETFS\nOUTPUT=ISO\nBACKUP_URL='{nfs_url(lab)}'\n"


def iso_members(iso: Path) -> dict[str, bytes]:
    return rear_iso.iso_members(iso)


# --------------------------------------------------------------------------- config reading


def test_site_then_local_then_each_c_file_in_order(lab: Lab) -> None:
    """site.conf, local.conf, then each -C file are sourced in order; a later file wins."""
    write_config(lab, "ctl-0", "site.conf", nfs_local_conf(lab) + "NETFS_PREFIX=from-site\n")
    write_config(
        lab, "ctl-0", "local.conf", "NETFS_PREFIX=$HOSTNAME/local\nBACKUP_PROG_ARCHIVE=a\n"
    )
    write_config(lab, "ctl-0", "one.conf", "BACKUP_PROG_ARCHIVE=b\n")
    write_config(lab, "ctl-0", "two", "BACKUP_PROG_ARCHIVE=c\n")
    code, text = rear(lab, "ctl-0", "-C 'one two' mkbackup")
    assert code == 0, text
    assert (lab.export_directory / "ctl-0/local/c.tar.gz").is_file()
    assert (lab.export_directory / "ctl-0/rear-ctl-0.iso").is_file()  # OUTPUT_PREFIX=$HOSTNAME


def test_dash_c_changes_the_config_directory(lab: Lab) -> None:
    """`rear -c DIR` reads DIR/local.conf instead of /etc/rear's."""
    write_config(lab, "ctl-0", "local.conf", "BACKUP=NETFS\nBACKUP_URL=nfs://192.0.2.1/x\n")
    (lab.host_directory("ctl-0", "etc-rear") / "alt").mkdir()
    write_config(lab, "ctl-0", "alt/local.conf", nfs_local_conf(lab) + "NETFS_PREFIX=alt\n")
    code, text = rear(lab, "ctl-0", "-c /etc/rear/alt mkbackup")
    assert code == 0, text
    assert (lab.export_directory / "alt/backup.tar.gz").is_file()


def test_values_are_evaluated_by_bash(lab: Lab) -> None:
    """Variables, ${VAR}, arrays and += are bash's: the archive name and prefix follow them."""
    write_config(
        lab,
        "ctl-0",
        "local.conf",
        nfs_local_conf(lab) + 'BASE="${HOSTNAME}-x"\nNETFS_PREFIX="$BASE/n"\n'
        "BACKUP_PROG_EXCLUDE+=( '/data/*' )\nBACKUP_PROG_COMPRESS_SUFFIX=\".xz\"\n",
    )
    code, text = rear(lab, "ctl-0", "mkbackup")
    assert code == 0, text
    assert (lab.export_directory / "ctl-0-x/n/backup.tar.xz").is_file()


def test_a_quoting_broken_c_file_stops_27_and_is_skipped_by_26(lab: Lab) -> None:
    """An unterminated quote: 2.7+ "Failed to Source"; 2.6 goes on with the earlier files."""
    write_config(lab, "ctl-0", "local.conf", nfs_local_conf(lab))
    write_config(lab, "ctl-0", RUN_CONF, 'ISO_PREFIX="ctl-0-r1\nNETFS_PREFIX=r1\n')
    lab.set_rear("2.7", host="ctl-0")
    code, text = rear(lab, "ctl-0", "-C barctl-run mkbackup")
    assert code == 1
    assert "ERROR: Failed to Source /etc/rear/barctl-run.conf" in text
    assert not (lab.export_directory / "ctl-0").exists()
    lab.set_rear("2.6", host="ctl-0")
    code, text = rear(lab, "ctl-0", "-C barctl-run mkbackup")
    assert code == 0, text
    assert (lab.export_directory / "ctl-0/rear-ctl-0.iso").is_file()  # the broken line is lost


def test_an_unquoted_value_is_code_as_in_bash(lab: Lab) -> None:
    """`ISO_PREFIX=x$(touch ...)` runs the command, as ReaR's `source` does."""
    write_config(lab, "ctl-0", "local.conf", nfs_local_conf(lab))
    write_config(lab, "ctl-0", RUN_CONF, "ISO_PREFIX=x$(touch /etc/rear/ran)\n")
    code, text = rear(lab, "ctl-0", "-C barctl-run mkbackup")
    assert code == 0, text
    assert (lab.host_directory("ctl-0", "etc-rear") / "ran").exists()


def test_a_missing_c_file_is_reported_and_rear_goes_on(lab: Lab) -> None:
    """A -C file that is not there is a LogPrintError, not an Error (usr/sbin/rear)."""
    write_config(lab, "ctl-0", "local.conf", nfs_local_conf(lab))
    code, text = rear(lab, "ctl-0", "-C nope mkbackup")
    assert code == 0
    assert "There is '-C nope' but neither '/etc/rear/nope' nor '/etc/rear/nope.conf'" in text


# --------------------------------------------------------------------------- results


def test_per_run_prefixes_make_subdirectories_like_mkdir_p(lab: Lab) -> None:
    """NETFS_PREFIX/OUTPUT_PREFIX `<node>/<run>`: archive and ISO in that directory (0750)."""
    write_config(lab, "ctl-0", "local.conf", nfs_local_conf(lab))
    write_config(lab, "ctl-0", RUN_CONF, per_run_conf("R1"))
    code, text = rear(lab, "ctl-0", "-C barctl-run mkbackup")
    assert code == 0, text
    directory = lab.export_directory / "ctl-0/R1"
    names = sorted(path.name for path in directory.iterdir())
    assert names == [
        "README",
        "VERSION",
        "backup.log",
        "backup.tar.gz",
        "ctl-0-R1.iso",
        "rear-ctl-0.log",
    ]
    assert directory.stat().st_mode & 0o777 == 0o750
    assert (lab.host_directory("ctl-0", "var-lib-rear") / "output/ctl-0-R1.iso").is_file()


def test_the_iso_carries_the_config_dir_and_rescue_conf(lab: Lab) -> None:
    """The ISO holds /etc/rear (crypt key stripped, other secrets kept), NETFS_* in rescue.conf."""
    write_config(lab, "ctl-0", "local.conf", nfs_local_conf(lab) + "BACKUP_PROG_CRYPT_KEY='k3y'\n")
    write_config(lab, "ctl-0", RUN_CONF, per_run_conf("R1") + "OUTPUT_LFTP_PASSWORD='pw9'\n")
    code, text = rear(lab, "ctl-0", "-C barctl-run mkbackup")
    assert code == 0, text
    members = iso_members(lab.export_directory / "ctl-0/R1/ctl-0-R1.iso")
    assert next(iter(members)) == "LAB-REAR-ISO"
    assert b"k3y" not in members["rootfs/etc/rear/local.conf"]
    assert b"OUTPUT_LFTP_PASSWORD='pw9'" in members["rootfs/etc/rear/barctl-run.conf"]
    rescue = members["rootfs/etc/rear/rescue.conf"].decode()
    assert "NETFS_PREFIX=ctl-0/R1\n" in rescue
    assert "ISO_PREFIX" not in rescue and "OUTPUT_PREFIX" not in rescue


def test_iso_backup_url_puts_the_archive_inside_the_iso(lab: Lab) -> None:
    """BACKUP_URL=iso:///backup: no archive on the target, the ISO holds backup/<archive>."""
    write_config(
        lab,
        "ctl-0",
        "local.conf",
        f"BACKUP=NETFS\nBACKUP_URL=iso:///backup\nOUTPUT_URL='{nfs_url(lab)}'\n",
    )
    code, text = rear(lab, "ctl-0", "mkbackup")
    assert code == 0, text
    assert (
        sorted(p.name for p in (lab.export_directory / "ctl-0").iterdir() if "tar" in p.name) == []
    )
    assert "backup/backup.tar.gz" in iso_members(lab.export_directory / "ctl-0/rear-ctl-0.iso")


# --------------------------------------------------------------------------- recover


def test_recover_resolves_the_runs_archive_and_fails_when_it_is_gone(lab: Lab) -> None:
    """Booting the run's ISO finds <node>/<run>/backup.tar.gz; without it ReaR's error."""
    write_config(lab, "ctl-0", "local.conf", nfs_local_conf(lab))
    write_config(lab, "ctl-0", RUN_CONF, per_run_conf("R1"))
    assert rear(lab, "ctl-0", "-C barctl-run mkbackup")[0] == 0
    iso = lab.export_directory / "ctl-0/R1/ctl-0-R1.iso"
    result = lab.boot_and_recover("ctl-0", iso)
    assert result.ok, result.message
    assert result.archive == lab.export_directory / "ctl-0/R1/backup.tar.gz"
    assert result.backup_url == nfs_url(lab)
    result.archive.unlink()
    failed = lab.boot_and_recover("ctl-0", iso)
    assert not failed.ok
    assert failed.message == (
        "Backup archive '/tmp/rear.lab/outputfs/ctl-0/R1/backup.tar.gz' not readable."
    )


def test_each_runs_iso_resolves_its_own_archive(lab: Lab) -> None:
    """The second run's ISO finds the second archive; the first ISO still the first."""
    write_config(lab, "ctl-0", "local.conf", nfs_local_conf(lab))
    for run in ("R1", "R2"):
        write_config(lab, "ctl-0", RUN_CONF, per_run_conf(run))
        assert rear(lab, "ctl-0", "-C barctl-run mkbackup")[0] == 0
    for run in ("R1", "R2"):
        result = lab.boot_and_recover(
            "ctl-0", lab.export_directory / f"ctl-0/{run}/ctl-0-{run}.iso"
        )
        assert result.archive == lab.export_directory / f"ctl-0/{run}/backup.tar.gz"


def test_recover_does_not_read_the_c_file(lab: Lab) -> None:
    """An archive named only in the -C file is looked for as local.conf's name at recover."""
    write_config(lab, "ctl-0", "local.conf", nfs_local_conf(lab) + "NETFS_PREFIX=ctl-0\n")
    write_config(lab, "ctl-0", RUN_CONF, "BACKUP_PROG_ARCHIVE=ctl-0-R1\nISO_PREFIX=ctl-0-R1\n")
    assert rear(lab, "ctl-0", "-C barctl-run mkbackup")[0] == 0
    assert (lab.export_directory / "ctl-0/ctl-0-R1.tar.gz").is_file()
    result = lab.boot_and_recover("ctl-0", lab.export_directory / "ctl-0/ctl-0-R1.iso")
    assert not result.ok
    assert "outputfs/ctl-0/backup.tar.gz' not readable" in result.message


def test_recover_from_an_iso_with_the_archive_inside(lab: Lab) -> None:
    """iso:///backup: recover reads the archive from the booted medium."""
    write_config(
        lab,
        "ctl-0",
        "local.conf",
        f"BACKUP=NETFS\nBACKUP_URL=iso:///backup\nOUTPUT_URL='{nfs_url(lab)}'\n",
    )
    assert rear(lab, "ctl-0", "mkbackup")[0] == 0
    result = lab.boot_and_recover("ctl-0", lab.export_directory / "ctl-0/rear-ctl-0.iso")
    assert result.ok and result.shown == "/tmp/rear.lab/outputfs/backup/backup.tar.gz"


# --------------------------------------------------------------------------- versions and SFTP


def test_rear_version_is_a_lab_setting(lab: Lab) -> None:
    """`rear -V` prints the host's version and release date (the lab default: 2.6, RHEL 8's)."""
    lab.set_rear("2.4", host="ctl-1")
    assert rear(lab, "ctl-1", "-V") == (0, "Relax-and-Recover 2.4 / 2018-06-21\n")
    assert rear(lab, "ctl-0", "-V") == (0, "Relax-and-Recover 2.6 / 2020-06-17\n")


def sftp_conf(lab: Lab, user: str = "") -> str:
    return f"BACKUP=NETFS\nBACKUP_URL=iso:///backup\nOUTPUT_URL='{sftp_url(lab, user)}'\n"


@pytest.mark.parametrize("version", ["2.4", "2.6", "2.7"])
def test_lftp_before_28_ignores_output_lftp_credentials(lab: Lab, version: str) -> None:
    """OUTPUT_LFTP_USERNAME/PASSWORD: ignored before 2.8 (the upload fails), honoured by 2.8."""
    lab.set_sftp_account("backup", password="pw")
    write_config(lab, "ctl-0", "local.conf", sftp_conf(lab))
    write_config(lab, "ctl-0", RUN_CONF, "OUTPUT_LFTP_USERNAME=backup\nOUTPUT_LFTP_PASSWORD=pw\n")
    lab.set_rear(version, host="ctl-0")
    code, text = rear(lab, "ctl-0", "-C barctl-run mkbackup")
    assert code == 1 and "Login failed: no account root" in text
    lab.set_rear("2.8", host="ctl-0")
    code, text = rear(lab, "ctl-0", "-C barctl-run mkbackup")
    assert code == 0, text
    assert (lab.export_directory / "rear-ctl-0.iso").is_file()  # the URL path, no prefix


@pytest.mark.parametrize("version", ["2.4", "2.8"])
def test_lftp_logs_in_with_roots_key_as_the_urls_user(lab: Lab, version: str) -> None:
    """sftp://user@host with root's SSH key works on every version."""
    lab.set_sftp_account("backup", public_keys=[lab.root_ssh_key("ctl-0")])
    lab.set_rear(version, host="ctl-0")
    write_config(lab, "ctl-0", "local.conf", sftp_conf(lab, "backup"))
    code, text = rear(lab, "ctl-0", "mkbackup")
    assert code == 0, text
    assert "backup/backup.tar.gz" in iso_members(lab.export_directory / "rear-ctl-0.iso")


def test_lftp_needs_the_backup_node_in_roots_known_hosts_when_checked(lab: Lab) -> None:
    """With host key checking on, an unknown backup node fails the upload until it is known."""
    lab.set_sftp_host_key_check(True)
    write_config(lab, "ctl-0", "local.conf", sftp_conf(lab, "backup:pw"))
    code, text = rear(lab, "ctl-0", "mkbackup")
    assert code == 1 and "Host key verification failed." in text
    known = lab.host_directory("ctl-0", "home") / ".ssh"
    known.mkdir(exist_ok=True)
    (known / "known_hosts").write_text(f"{lab.address('backup-0')} ssh-ed25519 AAAA\n")
    assert rear(lab, "ctl-0", "mkbackup")[0] == 0


def test_iso_file_size_limit_on_27_with_a_big_archive(lab: Lab) -> None:
    """2.7+: an archive over ISO_FILE_SIZE_LIMIT fails the ISO; 2.6 and a 0 limit do not."""
    lab.set_rear("2.7", host="ctl-0", archive_size=3 * 2**30)
    write_config(lab, "ctl-0", "local.conf", sftp_conf(lab, "backup:pw"))
    code, text = rear(lab, "ctl-0", "mkbackup")
    assert code == 1
    assert (
        "ERROR: File for ISO backup.tar.gz size 3221225472 greater or equal "
        "ISO_FILE_SIZE_LIMIT=2147483648" in text
    )
    write_config(lab, "ctl-0", RUN_CONF, "ISO_FILE_SIZE_LIMIT=0\n")
    assert rear(lab, "ctl-0", "-C barctl-run mkbackup")[0] == 0
    lab.set_rear("2.6", host="ctl-0")
    assert rear(lab, "ctl-0", "mkbackup")[0] == 0


# --------------------------------------------------------------------------- against real ReaR

DUMPED = (
    "NETFS_PREFIX",
    "OUTPUT_PREFIX",
    "ISO_PREFIX",
    "BACKUP_PROG_ARCHIVE",
    "BACKUP_PROG_COMPRESS_SUFFIX",
    "BACKUP_URL",
    "ISO_FILE_SIZE_LIMIT",
)


def test_config_reading_matches_debians_real_rear_27(tmp_path: Path) -> None:
    """The stand-in reads site, local and -C files to the values real `rear dump` (2.7) shows."""
    if not Path("/usr/sbin/rear").exists():
        pytest.skip("Debian's rear is not installed (./dev test installs it)")
    version = subprocess.run(["rear", "-V"], capture_output=True, text=True, check=False).stdout
    if not version.startswith("Relax-and-Recover 2.7 "):
        pytest.skip(f"this check compares with ReaR 2.7, found {version.strip()}")
    (tmp_path / "site.conf").write_text("NETFS_PREFIX=site\nBACKUP_PROG_ARCHIVE=site\n")
    (tmp_path / "local.conf").write_text(
        "BACKUP=NETFS\nBACKUP_URL='nfs://198.18.0.1/ctl_plane_backups'\n"
        'BASE="${HOSTNAME}-x"\nNETFS_PREFIX="$BASE/n"\nBACKUP_PROG_COMPRESS_SUFFIX=.xz\n'
    )
    (tmp_path / "run.conf").write_text(
        "OUTPUT_PREFIX=\"$HOSTNAME\"/'R1'\nISO_PREFIX=\"$HOSTNAME\"-'R1'\nISO_FILE_SIZE_LIMIT=0\n"
    )
    dump = subprocess.run(
        ["rear", "-c", str(tmp_path), "-C", "run", "dump"],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=120,
    ).stdout
    real = dict(re.findall(r'^\s+([A-Z_]+)="(.*)"$', dump, flags=re.MULTILINE))
    lab = rear_shell.read_config(
        host=socket.gethostname(), version="2.7", workflow="dump", config_dir=tmp_path, append="run"
    )
    assert {name: lab.get(name) for name in DUMPED} == {name: real[name] for name in DUMPED}
