"""The runbook's manual database restores: galera (guide 4.4) and the undercloud's (4.5).

Pure. The dump and grants are this run's restore material on the backup target
(`<dir>/<node>/<run id>/restore/`, copied there by the run and checksummed in its manifest), so
no tar extraction is needed; the commands fetch them, check their sha256, and give them to the
database user (42434) instead of the guide's plain `cp`: barctl writes them 0600 root.
"""

from __future__ import annotations

from barctl.console.runbook import Section, Step, Subject, checksum_commands, fetch_commands

GALERA = '$(sudo podman container ls --all --format "{{.Names}}" --filter=name=galera-bundle)'
MYSQL_USER = "42434"
MYSQLD_SAFE = (
    "/usr/bin/mysqld_safe --pid-file=/var/run/mysql/mysqld.pid"
    " --socket=/var/lib/mysql/mysql.sock --datadir=/var/lib/mysql"
    " --log-error=/var/log/mysql/mysql_cluster.log --user=mysql --open-files-limit=16384"
)
# Guide 4.4 step 7 and 4.5 step 5: a fresh database directory with the container's labels.
NEW_MYSQL_DIRECTORY = (
    "mkdir /var/lib/mysql",
    f"chown {MYSQL_USER}:{MYSQL_USER} /var/lib/mysql",
    "chmod 0755 /var/lib/mysql",
    "chcon -t container_file_t /var/lib/mysql",
    "chcon -r object_r /var/lib/mysql",
    "chcon -u system_u /var/lib/mysql",
)


def _install(subject: Subject, kind: str, sudo: str) -> tuple[str, ...]:
    found = subject.file(kind)
    if found is None:
        return ()
    owner = f"-o {MYSQL_USER} -g {MYSQL_USER}"
    return (f"{sudo}install {owner} -m 0600 {subject.mounted(found.path)} /var/lib/mysql/",)


def _fetch(subject: Subject, kinds: tuple[str, ...]) -> Step:
    paths = tuple(item.path for item in map(subject.file, kinds) if item is not None)
    return Step(
        f"Fetch this run's files from {subject.backup_node} and check their sha256",
        (*fetch_commands(subject, paths), *checksum_commands(subject, kinds)),
    )


def _galera_preparation() -> list[Step]:
    every = "All controllers"
    return [*_galera_quiesce(every), _galera_reinitialise(every)]


def _galera_quiesce(every: str) -> list[Step]:
    """Guide 4.4: the shell's variables, the VIP blocked, galera unmanaged, stopped and moved."""
    return [
        Step(
            "On every controller, in the shell you use: the container, the VIP and the password",
            (
                f"GALERA={GALERA}",
                "MYSQL_VIP=$(sudo hiera -c /etc/puppet/hiera.yaml mysql_vip)",
                "ROOT_PASSWORD=$(sudo hiera -c /etc/puppet/hiera.yaml"
                " mysql::server::root_password)",
            ),
        ),
        Step(
            f"{every}: block database connections through the VIP",
            ("sudo iptables -I INPUT -p tcp --destination-port 3306 -d $MYSQL_VIP -j DROP",),
        ),
        Step("Controller-0: unmanage galera", ("sudo pcs resource unmanage galera-bundle",)),
        Step(
            f"{every}: stop galera and set the current data aside",
            (
                "sudo podman container stop $GALERA",
                "sudo mv /var/lib/mysql /var/lib/mysql-save",
                *(f"sudo {command}" for command in NEW_MYSQL_DIRECTORY),
            ),
        ),
    ]


def _galera_reinitialise(every: str) -> Step:
    """Guide 4.4: a fresh local database on each controller, root's password as hiera has it."""
    return Step(
        f"{every}: start the container, initialise a local database, reset root's password",
        (
            "sudo podman container start $GALERA",
            'sudo podman exec -i $GALERA bash -c "mysql_install_db --datadir=/var/lib/mysql'
            ' --user=mysql --log_error=/var/log/mysql/mysql_init.log"',
            'sudo podman exec $GALERA bash -c "mysqld_safe --skip-networking --wsrep-on=OFF'
            ' --log-error=/var/log/mysql/mysql_safe.log" &',
            'sudo podman exec $GALERA bash -c "mv /root/.my.cnf /root/.my.cnf.bck"',
            "sudo podman exec $GALERA bash -c \"mysql -uroot -e'use mysql;update user set"
            ' password=PASSWORD(\\"$ROOT_PASSWORD\\")where User=\\"root\\";flush'
            " privileges;'\"",
            'sudo podman exec $GALERA bash -c "mv /root/.my.cnf.bck /root/.my.cnf"',
        ),
    )


def _galera_load(subject: Subject) -> list[Step]:
    load = 'sudo podman exec $GALERA bash -c "mysql -u root -p$ROOT_PASSWORD < /var/lib/mysql/{}"'
    return [
        _fetch(subject, ("database_dump", "grants")),
        Step(
            f"Controller-0 ({subject.node}): put the dump and grants into the database directory",
            (*_install(subject, "database_dump", "sudo "), *_install(subject, "grants", "sudo ")),
        ),
        Step(
            f"Controller-0 ({subject.node}): load the dump, then the grants",
            (
                load.format("openstack-backup-mysql.sql"),
                load.format("openstack-backup-mysql-grants.sql"),
            ),
        ),
    ]


def _galera_cluster() -> list[Step]:
    return [*_galera_bootstrap(), *_galera_resume()]


def _galera_bootstrap() -> list[Step]:
    """Guide 4.4: the local databases stopped, the cluster bootstrapped from Controller-0."""
    return [
        Step(
            "All controllers: stop the local databases",
            ('sudo podman exec $GALERA bash -c "mysqladmin shutdown"',),
        ),
        Step(
            "Controller-0: start the bootstrap node, check it is synced, print the cluster address;"
            " set CLUSTER_ADDRESS=<printed value> on the other controllers",
            (
                f"sudo podman exec $GALERA {MYSQLD_SAFE} --wsrep-cluster-address=gcomm:// &",
                'sudo podman exec $GALERA bash -c "clustercheck"',
                'sudo podman exec $GALERA bash -c "grep wsrep_cluster_address'
                " /etc/my.cnf.d/galera.cnf\" | awk '{print $3}'",
            ),
        ),
        Step(
            "Each other controller, one at a time: start and check (expect `Galera cluster node"
            " is synced`, else the node must be recreated)",
            (
                f"sudo podman exec $GALERA {MYSQLD_SAFE}"
                " --wsrep-cluster-address=$CLUSTER_ADDRESS &",
                'sudo podman exec $GALERA bash -c "clustercheck"',
            ),
        ),
    ]


def _galera_resume() -> list[Step]:
    """Guide 4.4: the VIP unblocked, the containers restarted, galera managed, the copies gone."""
    return [
        Step(
            "All controllers: stop the databases, unblock the VIP, restart the containers",
            (
                "sudo podman exec $GALERA /usr/bin/mysqladmin -u root shutdown",
                "sudo iptables -D INPUT -p tcp --destination-port 3306 -d $MYSQL_VIP -j DROP",
                "sudo podman container restart $GALERA",
                'sudo podman container restart $(sudo podman container ls --all --format "{{'
                ' .Names }}" --filter=name=clustercheck)',
            ),
        ),
        Step("Controller-0: manage galera again", ("sudo pcs resource manage galera-bundle",)),
        Step(
            "Controller-0: remove the copies holding every credential; keep /var/lib/mysql-save"
            " until the cloud works",
            (
                "sudo rm /var/lib/mysql/openstack-backup-mysql.sql"
                " /var/lib/mysql/openstack-backup-mysql-grants.sql",
                "sudo pcs status",
            ),
        ),
    ]


def galera_section(subject: Subject) -> Section:
    """Guide 4.4 with this node as Controller-0 and this run's dump and grants."""
    title = "Restore galera by hand, only if it does not form a Synced cluster"
    if subject.file("database_dump") is None or subject.file("grants") is None:
        text = (
            f"Run {subject.run_id} has no database dump or grants of {subject.node} (not a galera"
            " node, or an offline run dumped on another controller): follow the runbook of the"
            " controller whose run has them (`barctl backups` lists each node's files)"
        )
        return Section("galera", title, "guide 4.4", (Step(text),))
    steps = [*_galera_preparation(), *_galera_load(subject), *_galera_cluster()]
    return Section("galera", title, "guide 4.4", tuple(steps))


def undercloud_database_section(subject: Subject) -> Section:
    """Guide 4.5 with this run's dump (the guide's /root/undercloud-all-databases.sql)."""
    title = "Restore the undercloud database by hand, only if it did not come back"
    if subject.file("database_dump") is None:
        text = f"Run {subject.run_id} has no database dump (the mysql container did not run)"
        return Section("undercloud_database", title, "guide 4.5", (Step(text),))
    steps = (*_undercloud_fresh_directory(), *_undercloud_import(subject))
    return Section("undercloud_database", title, "guide 4.5", steps)


def _undercloud_fresh_directory() -> tuple[Step, ...]:
    """Guide 4.5: the services stopped, the database directory set aside and initialised."""
    return (
        Step("As root: stop the services", ("systemctl stop tripleo_*", "podman ps")),
        Step("Stop any container still listed", ("podman stop <container_name>",)),
        Step(
            "Set the database directory aside and recreate it",
            (
                "cp -a /var/lib/mysql /var/lib/mysql_bck",
                "rm -rf /var/lib/mysql",
                *NEW_MYSQL_DIRECTORY,
            ),
        ),
        Step(
            "Tag the mariadb image locally and initialise the directory",
            (
                "podman images | grep mariadb",
                "podman tag <image_id> mariadb",
                "podman run --net=host -v /var/lib/mysql:/var/lib/mysql localhost/mariadb"
                " mysql_install_db --datadir=/var/lib/mysql --user=mysql",
            ),
        ),
    )


def _undercloud_import(subject: Subject) -> tuple[Step, ...]:
    """Guide 4.5: this run's dump fetched, imported into a one-off database, then removed."""
    dump = "/var/lib/mysql/openstack-backup-mysql.sql"
    return (
        _fetch(subject, ("database_dump",)),
        Step(
            "Copy the dump in and start a database; it prints <container_id>",
            (
                *_install(subject, "database_dump", ""),
                "podman run --net=host -dt -v /var/lib/mysql:/var/lib/mysql localhost/mariadb"
                " /usr/libexec/mysqld",
            ),
        ),
        Step(
            "Import, then stop it (expect no container left)",
            (
                'podman exec <container_id> mysql -u root -e "set global max_allowed_packet ='
                ' 1073741824;"',
                f'podman exec <container_id> bash -c "mysql -u root < {dump}"',
                "podman exec <container_id> mysql -u root -e 'flush privileges'",
                "podman stop <container_id>",
                "podman ps",
            ),
        ),
        Step(
            "Remove the copy and start the services",
            (f"rm {dump}", "systemctl start multi-user.target"),
        ),
    )
