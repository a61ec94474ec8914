"""The lab itself: real sshd per namespace, stand-in commands, cluster simulation, faults."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from barctl.run import cluster
from lab import Lab, standard_hosts
from lab.lab import LAB_MIN_FREE_BYTES

pytestmark = pytest.mark.lab

MYSQL = "podman exec -i galera-bundle-podman-{i} mysql --defaults-extra-file=/dev/stdin -N -B -e "


def client_conf(lab: Lab) -> str:
    return f"[client]\nuser=root\npassword={lab.mysql_password}\n"


def ok(lab: Lab, host: str, command: str, **kwargs: object) -> str:
    result = lab.ssh(host, command, **kwargs)  # type: ignore[arg-type]
    assert result.returncode == 0, (command, result.stdout, result.stderr)
    return result.stdout


# --------------------------------------------------------------------------- hosts


def test_each_host_answers_ssh_with_its_own_environment(lab: Lab) -> None:
    """Every host runs its own sshd with the lab PATH, its name and the lab dir in the env."""
    for name in lab.host_names:
        out = ok(lab, name, 'echo "$BARCTL_LAB_HOST|$BARCTL_LAB_DIR|$PATH"; hostname')
        env, hostname = out.splitlines()
        assert env == (f"{name}|{lab.directory}|{lab.bin_directory}:/usr/sbin:/usr/bin:/sbin:/bin")
        assert hostname == name


def test_each_host_has_its_own_host_key_in_known_hosts(lab: Lab) -> None:
    """known_hosts lists one distinct plain ed25519 key per host address."""
    lines = lab.known_hosts_path.read_text().splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(
        lab.address(n) for n in lab.host_names
    )
    assert len({line.split()[2] for line in lines}) == len(lab.host_names)
    assert all(line.split()[1] == "ssh-ed25519" for line in lines)


def test_addresses_are_in_the_benchmark_range_on_the_lab_bridge(lab: Lab) -> None:
    """Lab addresses come from 198.18.0.0/15; the root side has .1 on the lab's bridge."""
    assert lab.network is not None and lab.network.subnet_of(
        __import__("ipaddress").IPv4Network("198.18.0.0/15")
    )
    assert lab.root_address.endswith(".1")
    shown = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "dev", lab.bridge],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"{lab.root_address}/24" in shown
    assert [lab.address(n).rsplit(".", 1)[1] for n in lab.host_names] == [
        "10",
        "11",
        "12",
        "13",
        "14",
    ]


def test_etc_rear_is_private_to_each_host(lab: Lab) -> None:
    """A file written to /etc/rear on one host is invisible on others and on the machine."""
    ok(lab, "ctl-0", "echo ctl0 > /etc/rear/barctl-run.conf; mkdir -p /var/lib/barctl/r1")
    assert (lab.host_directory("ctl-0", "etc-rear") / "barctl-run.conf").read_text() == "ctl0\n"
    assert ok(lab, "ctl-1", "ls -A /etc/rear /var/lib/barctl") == "/etc/rear:\n\n/var/lib/barctl:\n"
    assert not Path("/etc/rear/barctl-run.conf").exists()
    assert not Path("/var/lib/barctl/r1").exists()


def test_etc_cron_d_is_private_to_each_host(lab: Lab) -> None:
    """A cron file on one host is invisible on others and never reaches the machine's own."""
    (lab.host_directory("ctl-0", "etc-cron.d") / "rear").write_text("30 1 * * * root rear\n")
    assert ok(lab, "ctl-0", "cat /etc/cron.d/rear") == "30 1 * * * root rear\n"
    assert ok(lab, "ctl-1", "ls -A /etc/cron.d") == ""
    assert not Path("/etc/cron.d/rear").exists()


def test_df_answers_the_set_free_space_as_coreutils_does(lab: Lab) -> None:
    """set_free_space: `Avail` right-aligned over the number; other hosts get the real df."""
    lab.set_free_space("backup-0", 1288490188)
    answer = ok(lab, "backup-0", "df -B1 --output=avail /ctl_plane_backups")
    assert answer == "     Avail\n1288490188\n"
    real = ok(lab, "ctl-0", "df -B1 --output=avail /ctl_plane_backups").splitlines()
    assert real[0].strip() == "Avail" and real[1].strip().isdigit()


def test_sftp_subsystem_works(lab: Lab) -> None:
    """The sftp subsystem is available (barctl may upload files that way)."""
    argv = lab.ssh_argv("ctl-0", "x")[:-2]
    argv[0] = "sftp"
    argv += ["-b", "-", f"root@{lab.address('ctl-0')}"]
    result = subprocess.run(
        argv, input="ls /etc\n", capture_output=True, text=True, timeout=20, check=False
    )
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- pacemaker


def test_pcs_cluster_stop_on_one_node_is_seen_offline_elsewhere(lab: Lab) -> None:
    """`pcs cluster stop` on ctl-1 makes ctl-0's `pcs status` show it OFFLINE; health says so."""
    ok(lab, "ctl-1", "pcs cluster stop --request-timeout=3600")
    status = ok(lab, "ctl-0", "pcs status")
    assert "  * Online: [ ctl-0 ctl-2 ]" in status
    assert "  * OFFLINE: [ ctl-1 ]" in status
    assert "partition with quorum" in status
    refused = lab.ssh("ctl-1", "pcs status")
    assert refused.returncode == 1
    assert "error running crm_mon, is pacemaker running?" in refused.stderr
    assert "ctl-1: pacemaker offline" in lab.cluster_health()
    ok(lab, "ctl-1", "pcs cluster start")
    assert lab.is_cluster_healthy(), lab.cluster_health()


def test_pcs_stop_all_loses_quorum_and_start_all_heals(lab: Lab) -> None:
    """`pcs cluster stop --all` stops every member; one back is WITHOUT quorum; --all heals."""
    ok(lab, "ctl-0", "pcs cluster stop --all")
    assert all(lab.node_state(n)["pacemaker"] == "offline" for n in ("ctl-0", "ctl-1", "ctl-2"))
    assert any("without quorum" in p for p in lab.cluster_health())
    ok(lab, "ctl-2", "pcs cluster start")
    status = ok(lab, "ctl-2", "pcs status")
    assert "partition WITHOUT quorum" in status and "OFFLINE: [ ctl-0 ctl-1 ]" in status
    ok(lab, "ctl-2", "pcs cluster start --all")
    assert lab.is_cluster_healthy(), lab.cluster_health()


CRM_MON = "crm_mon --one-shot --inactive --output-as=xml"


def test_crm_mon_xml_reads_as_real_pacemaker_output(lab: Lab) -> None:
    """crm_mon's XML parses with barctl's parser (tested on real samples): members and states."""
    lab.set_pacemaker_state("ctl-1", "standby")
    lab.set_pacemaker_state("ctl-2", "maintenance")
    status = cluster.parse_pacemaker_status(ok(lab, "ctl-0", CRM_MON))
    assert dict(status.states) == {"ctl-0": "online", "ctl-1": "standby", "ctl-2": "maintenance"}
    assert status.quorate and not status.problem
    assert lab.node_state("ctl-2")["wsrep_state"] == "Synced"  # maintenance keeps galera
    assert "ctl-1: pacemaker standby" in lab.cluster_health()
    assert "  * Node ctl-1: standby" in ok(lab, "ctl-0", "pcs status")


def test_crm_mon_and_crm_node_fail_like_pacemaker_when_it_is_stopped(lab: Lab) -> None:
    """Pacemaker stopped: crm_mon exits 102 with its XML error; crm_node cannot reach it."""
    ok(lab, "ctl-1", "pcs cluster stop")
    stopped = lab.ssh("ctl-1", CRM_MON)
    assert stopped.returncode == 102
    assert "<error>crm_mon: Error: cluster is not available on this node</error>" in stopped.stdout
    name = lab.ssh("ctl-1", "crm_node -n")
    assert name.returncode == 102
    assert name.stderr == "error: Could not connect to controller: Connection refused\n"
    offline = cluster.parse_pacemaker_status(ok(lab, "ctl-0", CRM_MON))
    assert offline.states["ctl-1"] == "offline"


def test_crm_node_prints_the_pacemaker_name_and_crm_mon_uses_it(lab: Lab) -> None:
    """A node renamed in pacemaker answers crm_node -n with that name; crm_mon lists it."""
    lab.set_pacemaker_name("ctl-1", "overcloud-controller-1")
    assert ok(lab, "ctl-1", "crm_node -n") == "overcloud-controller-1\n"
    status = cluster.parse_pacemaker_status(ok(lab, "ctl-2", CRM_MON))
    assert status.members == {"ctl-0", "overcloud-controller-1", "ctl-2"}
    missing = lab.ssh("undercloud", "crm_node -n")
    assert missing.returncode == 127 and "failed to run command 'crm_node'" in missing.stderr


def test_pcs_status_off_cluster_and_backup_files(lab: Lab) -> None:
    """The undercloud has no pacemaker; `pcs cluster cib` / `pcs config backup` write files."""
    result = lab.ssh("undercloud", "pcs status")
    assert result.returncode == 1 and "is pacemaker running?" in result.stderr
    ok(
        lab,
        "ctl-0",
        "cd /var/lib/barctl && pcs cluster cib cib.xml && pcs config backup pacemaker_backup",
    )
    files = sorted(p.name for p in lab.host_directory("ctl-0", "var-lib-barctl").iterdir())
    assert files == ["cib.xml", "pacemaker_backup.tar.bz2"]


def test_rejoin_delay_keeps_node_joining_until_due(lab: Lab) -> None:
    """With a rejoin delay, a started node is not online/Synced until the delay has passed."""
    lab.set_rejoin_delay(0.6)
    ok(lab, "ctl-0", "pcs cluster stop")
    ok(lab, "ctl-0", "pcs cluster start")
    assert lab.node_state("ctl-0")["pacemaker"] == "starting"
    assert lab.ssh("ctl-0", "clustercheck").returncode == 1
    time.sleep(0.7)
    assert lab.node_state("ctl-0")["wsrep_state"] == "Synced"
    assert "Galera cluster node is synced." in ok(lab, "ctl-0", "clustercheck")


# --------------------------------------------------------------------------- galera


def test_desync_on_and_off_with_password_on_stdin(lab: Lab) -> None:
    """SET GLOBAL wsrep_desync via podman exec + mysql, password on stdin, toggles desync."""
    conf = client_conf(lab)
    ok(lab, "ctl-0", MYSQL.format(i=0) + "'SET GLOBAL wsrep_desync = ON'", input=conf)
    assert lab.node_state("ctl-0")["wsrep_desync"] == "ON"
    assert "ctl-0: wsrep_desync ON" in lab.cluster_health()
    assert ok(lab, "ctl-0", MYSQL.format(i=0) + "'SELECT @@wsrep_desync'", input=conf) == "ON\n"
    assert lab.ssh("ctl-0", "clustercheck").returncode == 1
    ok(lab, "ctl-0", MYSQL.format(i=0) + "'SET GLOBAL wsrep_desync = OFF'", input=conf)
    assert lab.is_cluster_healthy()
    query = "\"SHOW STATUS LIKE 'wsrep_local_state_comment'\""
    status = ok(lab, "ctl-0", MYSQL.format(i=0) + query, input=conf)
    assert status == "wsrep_local_state_comment\tSynced\nwsrep_cluster_size\t3\n"


def test_incoming_addresses_list_every_running_galera_member(lab: Lab) -> None:
    """wsrep_incoming_addresses: each galera member's bind_address:3306; a stopped one leaves."""
    query = "\"SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_incoming_addresses')\""
    status = ok(lab, "ctl-0", MYSQL.format(i=0) + query, input=client_conf(lab))
    everyone = ",".join(f"{lab.address(f'ctl-{i}')}:3306" for i in range(3))
    assert f"wsrep_incoming_addresses\t{everyone}\n" in status
    lab.set_pacemaker("ctl-2", online=False)
    status = ok(lab, "ctl-0", MYSQL.format(i=0) + query, input=client_conf(lab))
    two = ",".join(f"{lab.address(f'ctl-{i}')}:3306" for i in range(2))
    assert f"wsrep_incoming_addresses\t{two}\n" in status
    assert cluster.parse_galera_status(status).cluster_size == 2


def test_mysql_wrong_or_missing_password_is_refused(lab: Lab) -> None:
    """A wrong or missing password gets MySQL's access-denied error and exit 1."""
    for given in ("[client]\npassword=wrong\n", ""):
        result = lab.ssh("ctl-0", MYSQL.format(i=0) + "'SET GLOBAL wsrep_desync = ON'", input=given)
        assert result.returncode == 1
        assert "ERROR 1045 (28000): Access denied for user 'root'@'localhost'" in result.stderr
    assert lab.node_state("ctl-0")["wsrep_desync"] == "OFF"


def test_mysql_queries_and_dump(lab: Lab) -> None:
    """Schema/grants queries and mysqldump answer realistically; hiera gives the password."""
    conf = client_conf(lab)
    hiera = "hiera -c /etc/puppet/hiera.yaml "
    assert ok(lab, "ctl-0", hiera + "mysql::server::root_password") == lab.mysql_password + "\n"
    assert ok(lab, "ctl-0", hiera + "no::such::key") == "nil\n"
    schemas = ok(
        lab,
        "ctl-1",
        MYSQL.format(i=1) + '"select distinct table_schema from '
        "information_schema.tables where engine='innodb'\"",
        input=conf,
    )
    assert schemas.split() == ["keystone", "nova", "glance", "neutron"]
    accounts = ok(
        lab, "ctl-1", MYSQL.format(i=1) + '"SELECT user, host FROM mysql.user"', input=conf
    )
    assert accounts.splitlines()[:2] == ["root\tlocalhost", "keystone\t%"]
    show = MYSQL.format(i=1) + "\"SHOW GRANTS FOR 'nova'@'%'\""
    grants = ok(lab, "ctl-1", show, input=conf)
    assert grants.splitlines()[1] == "GRANT ALL PRIVILEGES ON `nova`.* TO `nova`@`%`"
    dump = ok(
        lab,
        "ctl-1",
        "podman exec -i galera-bundle-podman-1 mysqldump "
        "--defaults-extra-file=/dev/stdin --single-transaction --databases keystone nova",
        input=conf,
    )
    assert dump.startswith("-- MySQL dump") and "Database: keystone nova" in dump
    uc = ok(
        lab,
        "undercloud",
        "podman exec -i mysql mysqldump --defaults-extra-file=/dev/stdin --opt --all-databases",
        input=conf,
    )
    assert "keystone nova glance neutron" in uc


# --------------------------------------------------------------------------- podman / ceph


def test_pause_and_unpause_containers(lab: Lab) -> None:
    """podman pause/unpause change state; ps filters paused; unknown names exit 125."""
    ok(lab, "ctl-0", "podman pause nova_api keystone")
    assert ok(lab, "ctl-0", "podman ps --filter status=paused --format '{{.Names}}'") == (
        "keystone\nnova_api\n"
    )
    assert "nova_api" in ok(lab, "ctl-0", "podman ps -a --format '{{.Names}}'")
    assert "ctl-0: container nova_api paused" in lab.cluster_health()
    assert lab.ssh("ctl-0", "podman exec keystone mysql").returncode == 126
    unknown = lab.ssh("ctl-0", "podman pause nosuch")
    assert unknown.returncode == 125 and 'no container with name or ID "nosuch"' in unknown.stderr
    ok(lab, "ctl-0", "podman unpause nova_api keystone")
    assert lab.is_cluster_healthy()
    assert ok(lab, "undercloud", "podman ps --format '{{.Names}}'").split() == [
        "ironic_api",
        "keystone",
        "mysql",
    ]


def test_ceph_units_and_auth_export(lab: Lab) -> None:
    """systemctl tracks ceph units (never the real one); ceph auth export gives a keyring."""
    ok(lab, "ctl-2", "systemctl stop ceph-mon@ctl-2 ceph-mgr@ctl-2")
    result = lab.ssh("ctl-2", "systemctl is-active ceph-mon@ctl-2")
    assert (result.returncode, result.stdout) == (3, "inactive\n")
    assert "ctl-2: ceph-mon@ctl-2 inactive" in lab.cluster_health()
    ok(lab, "ctl-2", "systemctl start ceph.target")
    assert ok(lab, "ctl-2", "systemctl is-active ceph-mgr@ctl-2") == "active\n"
    keyring = ok(lab, "ctl-2", "podman exec ceph-mon-ctl-2 ceph --cluster ceph auth export")
    assert keyring.startswith("[client.admin]")
    assert ok(lab, "ctl-2", "cephadm ls --no-detail") == "[]\n"
    assert "[client.admin]" in ok(lab, "ctl-2", "cephadm shell -- ceph auth export")


# --------------------------------------------------------------------------- rear


REAR_CONF = (
    'BACKUP=NETFS\nBACKUP_URL="nfs://{addr}/ctl_plane_backups"\n'
    'ISO_PREFIX=$HOSTNAME-202401020304\nBACKUP_PROG_ARCHIVE="$HOSTNAME-202401020304"\n'
)


def test_rear_mkbackup_writes_iso_and_archive_to_export(lab: Lab) -> None:
    """rear -C NAME mkbackup writes <ISO_PREFIX>.iso and <ARCHIVE>.tar.gz under export/<host>/."""
    conf = REAR_CONF.format(addr=lab.address("backup-0"))
    ok(lab, "ctl-0", "cat > /etc/rear/barctl-run.conf", input=conf)
    assert ok(lab, "ctl-0", "rear -V") == "Relax-and-Recover 2.6 / 2020-06-17\n"
    out = ok(lab, "ctl-0", "rear -d -v -C barctl-run mkbackup", timeout=20)
    assert "Relax-and-Recover" in out
    target = lab.export_directory / "ctl-0"
    assert (target / "ctl-0-202401020304.iso").stat().st_size > 1000
    # The archive is a real tar.gz of what ReaR's tar takes from the lab node (lab/rear_tar.py):
    # small, but it must open as gzip'd tar.
    with tarfile.open(target / "ctl-0-202401020304.tar.gz", "r:gz") as archive:
        archive.getmembers()


def test_rear_fails_when_backup_host_down_or_wrong_server(lab: Lab) -> None:
    """rear exits 1 like ReaR when the NFS server is not the backup host or it is down."""
    wrong = REAR_CONF.format(addr=lab.address("ctl-2"))
    ok(lab, "ctl-0", "cat > /etc/rear/barctl-run.conf", input=wrong)
    result = lab.ssh("ctl-0", "rear -C barctl-run mkbackup")
    assert result.returncode == 1 and "ERROR: Mount command" in result.stderr
    ok(
        lab,
        "ctl-0",
        "cat > /etc/rear/barctl-run.conf",
        input=REAR_CONF.format(addr=lab.address("backup-0")),
    )
    lab.stop_sshd("backup-0")
    result = lab.ssh("ctl-0", "rear -C barctl-run mkbackup")
    assert result.returncode == 1
    assert not (lab.export_directory / "ctl-0").exists()


# --------------------------------------------------------------------------- host faults


def test_link_down_connect_times_out_and_restore(lab: Lab) -> None:
    """With the link down a TCP connect times out (not refused, no instant error); restore."""
    lab.link_down("ctl-1")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        socket.create_connection((lab.address("ctl-1"), 22), timeout=1.5)
    assert time.monotonic() - started >= 1.4
    lab.restore("ctl-1")
    assert ok(lab, "ctl-1", "echo up") == "up\n"


def test_banner_hang_times_out_in_banner_exchange(lab: Lab) -> None:
    """A banner-hang host accepts TCP but ssh times out waiting for the banner."""
    lab.banner_hang("ctl-2")
    with socket.create_connection((lab.address("ctl-2"), 22), timeout=2) as conn:
        conn.settimeout(0.5)
        with pytest.raises(TimeoutError):
            conn.recv(10)
    result = lab.ssh("ctl-2", "true", connect_timeout=1)
    assert result.returncode == 255
    assert "banner exchange" in result.stderr
    lab.restore("ctl-2")
    assert ok(lab, "ctl-2", "echo up") == "up\n"


def test_sshd_stopped_is_refused(lab: Lab) -> None:
    """Stopping sshd (by recorded PID) makes connections refused; restore restarts it."""
    pid = lab.pids()["ctl-0"]
    lab.stop_sshd("ctl-0")
    assert not Path(f"/proc/{pid}").exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((lab.address("ctl-0"), 22), timeout=2)
    lab.restore("ctl-0")
    assert ok(lab, "ctl-0", "echo up") == "up\n"


def test_changed_host_key_fails_strict_checking(lab: Lab) -> None:
    """A regenerated host key makes strict host key checking fail; restore brings the old key."""
    lab.change_host_key("undercloud")
    result = lab.ssh("undercloud", "true")
    assert result.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in result.stderr
    lab.restore("undercloud")
    assert ok(lab, "undercloud", "echo up") == "up\n"


# --------------------------------------------------------------------------- command faults


def test_injected_exit_code_applies_before_state_change(lab: Lab) -> None:
    """An injected `pcs cluster start` failure exits N and leaves the node offline; expires."""
    ok(lab, "ctl-0", "pcs cluster stop")
    lab.inject("ctl-0", ["pcs", "cluster", "start"], exit_code=7, times=1)
    result = lab.ssh("ctl-0", "pcs cluster start")
    assert result.returncode == 7 and "injected" in result.stderr
    assert lab.node_state("ctl-0")["pacemaker"] == "offline"
    ok(lab, "ctl-0", "pcs cluster start")
    assert lab.is_cluster_healthy()


def test_injected_hang_is_killed_by_timeout(lab: Lab) -> None:
    """A hanging stand-in is killed by the caller's server-side `timeout`."""
    lab.inject("ctl-1", ["rear"], hang=True)
    started = time.monotonic()
    result = lab.ssh("ctl-1", "timeout 2 rear -v mkbackup")
    assert result.returncode == 124
    assert 1.9 < time.monotonic() - started < 6
    assert lab.ssh("ctl-0", "rear -V").returncode == 0  # other hosts unaffected


def test_injected_sleep_then_normal_and_inner_podman_match(lab: Lab) -> None:
    """A sleep fault delays then behaves normally; faults match commands run via podman exec."""
    lab.inject(None, ["hiera"], sleep=0.5, times=1)
    started = time.monotonic()
    assert ok(lab, "ctl-0", "hiera container_cli") == "podman\n"
    assert time.monotonic() - started >= 0.5
    lab.inject("ctl-0", ["mysqldump"], exit_code=2)
    result = lab.ssh(
        "ctl-0",
        "podman exec -i galera-bundle-podman-0 mysqldump "
        "--defaults-extra-file=/dev/stdin --all-databases",
        input=client_conf(lab),
    )
    assert result.returncode == 2


def test_invocations_record_host_and_argv_but_never_stdin(lab: Lab) -> None:
    """Invocations record host and argv; the password sent on stdin appears nowhere; the lab's
    sudo is a wrapper like `timeout` (consumes -n/-u/-g, execs), so only the tool is recorded."""
    ok(lab, "ctl-0", MYSQL.format(i=0) + "'SET GLOBAL wsrep_desync = OFF'", input=client_conf(lab))
    ok(lab, "ctl-1", "sudo -n -u root pcs status")
    calls = lab.invocations()
    assert [(c.host, c.argv[0]) for c in calls] == [("ctl-0", "podman"), ("ctl-1", "pcs")]
    assert calls[0].argv[-1] == "SET GLOBAL wsrep_desync = OFF"
    assert calls[1].argv == ("pcs", "status")
    assert [c.argv[0] for c in lab.invocations("ctl-1")] == ["pcs"]
    assert lab.mysql_password not in (lab.directory / "invocations.jsonl").read_text()
    lab.clear_invocations()
    assert lab.invocations() == []


# --------------------------------------------------------------------------- files


def test_inventory_is_tripleo_static_format(lab: Lab) -> None:
    """The inventory has top-level groups, stack-prefixed roles, service groups, BackupNode."""
    inv = yaml.safe_load(lab.inventory_path.read_text())
    assert "all" not in inv
    assert inv["Undercloud"]["vars"]["ansible_connection"] == "local"
    assert inv["Controller"] == {"children": {"overcloud_Controller": {}}}
    ctl = inv["overcloud_Controller"]
    assert ctl["hosts"]["ctl-1"]["ansible_host"] == lab.address("ctl-1")
    assert ctl["vars"]["ansible_ssh_user"] == "root"
    assert ctl["vars"]["tripleo_role_name"] == "Controller"
    for group in ("pacemaker", "ceph_mon", "mysql", "allovercloud"):
        assert inv[group] == {"children": {f"overcloud_{group}": {}}}
    assert inv["overcloud"] == {"children": {"overcloud_allovercloud": {}}}
    assert inv["BackupNode"]["hosts"]["backup-0"] == {
        "ansible_host": lab.address("backup-0"),
        "ansible_user": "root",
    }


def test_write_policy_deep_merges_overrides(lab: Lab, tmp_path: Path) -> None:
    """write_policy writes a lab policy; overrides are deep-merged."""
    path = lab.write_policy(tmp_path / "p.yaml", plans={"controlplane": {"mode": "offline"}})
    policy = yaml.safe_load(path.read_text())
    assert policy["plans"]["controlplane"] == {
        "schedule": "30 2 * * sun",
        "groups": ["Controller"],
        "mode": "offline",
    }
    assert policy["backup_target"] == {
        "nfs": {"server": lab.address("backup-0"), "export": "/ctl_plane_backups"},
        "min_free_bytes": LAB_MIN_FREE_BYTES,
        "node": "backup-0",
    }
    assert policy["undercloud"]["address"] == lab.address("undercloud")
    assert policy["ssh"]["known_hosts"] == str(lab.known_hosts_path)


# --------------------------------------------------------------------------- lifecycle


def test_composable_lab_and_teardown_leave_nothing_behind(lab_factory) -> None:  # type: ignore[no-untyped-def]
    """A composable lab works; teardown removes namespaces, links, processes, mount points."""
    created = [p for p in (Path("/etc/rear"), Path("/var/lib/barctl")) if not p.exists()]
    lab = lab_factory(composable=True, ceph=False)
    assert ok(lab, "db-2", "pcs status").count("galera-bundle-") == 3
    inv = yaml.safe_load(lab.inventory_path.read_text())
    assert set(inv["overcloud_mysql"]["children"]) == {"overcloud_Database"}
    lab.banner_hang("msg-0")
    session = subprocess.Popen(lab.ssh_argv("db-0", "exec sleep 60"))  # a live session child
    sleeper = _wait_for_process_in(lab.namespace("db-0"), "sleep 60")
    pids = [*lab.pids().values(), sleeper]
    namespaces = [lab.namespace(n) for n in lab.host_names]
    lab.down()
    session.kill()  # the client side is ours; its server side must be gone already
    session.wait(timeout=10)
    listed = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=False
    ).stdout
    assert not any(ns in listed for ns in namespaces)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False).stdout
    assert lab.bridge not in links
    assert not _still_running(pids)
    for path in created:
        assert not path.exists() or any(path.iterdir()) or _other_labs_running()


def _wait_for_process_in(namespace: str, cmdline: str) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = subprocess.run(
            ["ip", "netns", "pids", namespace], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in pids:
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").strip() == (
                    cmdline.encode()
                ):
                    return int(pid)
        time.sleep(0.05)
    raise AssertionError(f"no {cmdline!r} in {namespace}")


def _still_running(pids: list[int]) -> list[int]:
    """PIDs still running after up to 3 s (zombies awaiting their reaper count as gone)."""
    deadline = time.monotonic() + 3
    while True:
        alive = []
        for pid in pids:
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.append(pid)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _other_labs_running() -> bool:
    active = Path("/run/barctl-lab/active")
    return active.exists() and any(active.iterdir())


def test_running_tears_down_when_the_block_raises(tmp_path: Path) -> None:
    """Lab.running tears down (no namespace, bridge or sshd left) when the body raises."""
    from lab import unavailable_reason

    if unavailable_reason():
        pytest.skip(f"lab unavailable: {unavailable_reason()}")
    hosts = standard_hosts(1, ceph=False)
    with pytest.raises(RuntimeError, match="boom"), Lab.running(tmp_path, hosts) as lab:
        pids = list(lab.pids().values())
        raise RuntimeError("boom")
    assert (
        lab.bridge
        not in subprocess.run(
            ["ip", "-o", "link"], capture_output=True, text=True, check=False
        ).stdout
    )
    assert (
        lab.bridge
        not in subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=False
        ).stdout
    )
    assert not _still_running(pids)


def test_fresh_lab_state_knows_addresses_and_per_node_hiera(lab_factory) -> None:  # type: ignore[no-untyped-def]
    """Right after up (no reset), rear finds the backup host; hiera bind_address is per node."""
    lab = lab_factory(standard_hosts(1, ceph=False))
    conf = REAR_CONF.format(addr=lab.address("backup-0"))
    ok(lab, "ctl-0", "cat > /etc/rear/barctl-run.conf", input=conf)
    ok(lab, "ctl-0", "rear -C barctl-run mkbackup")
    key = "hiera -c /etc/puppet/hiera.yaml " + (
        "tripleo::profile::pacemaker::database::mysql::bind_address"
    )
    assert ok(lab, "ctl-0", key) == lab.address("ctl-0") + "\n"
    assert ok(lab, "undercloud", key) == "nil\n"
    cid = ok(lab, "ctl-0", "podman ps -q --filter name=galera").strip()
    assert (
        ok(
            lab,
            "ctl-0",
            f"podman exec -i {cid} mysql --defaults-extra-file=/dev/stdin -N -e "
            "'SELECT @@wsrep_desync'",
            input=client_conf(lab),
        )
        == "OFF\n"
    )
    assert "galera-bundle-podman-0" in ok(lab, "ctl-0", "podman ps")


def test_paramiko_strict_known_hosts_login(lab: Lab) -> None:
    """paramiko (as barctl.run.remote uses it) logs in with the lab key and known_hosts
    under RejectPolicy."""
    import paramiko

    client = paramiko.SSHClient()
    client.load_host_keys(str(lab.known_hosts_path))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        lab.address("ctl-0"),
        username="root",
        key_filename=str(lab.client_key_path),
        timeout=5,
        banner_timeout=5,
        allow_agent=False,
        look_for_keys=False,
    )
    try:
        _, stdout, _ = client.exec_command("echo $BARCTL_LAB_HOST; pcs status | head -1")
        assert stdout.read().decode() == "ctl-0\nCluster name: tripleo_cluster\n"
    finally:
        client.close()
