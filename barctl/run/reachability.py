"""Can a node reach the backup target the way ReaR will? Pure judgements of the gate's probes.

ReaR finds out only after a full tar, with the controller already out of the cluster: NFS
mounts `BACKUP_URL` (`mount -t nfs server:/export`, which mountd refuses for a client the
export does not list), and SFTP runs `lftp -c "open sftp://user@host..."` as root, whose ssh
cannot answer a prompt (vendor BZ 1955495). So the gate asks from each node, read-only:
`showmount -e SERVER` (mountd's export list, what a mount from this node would be judged
against) and a non-interactive login as the policy's user (setup_commands.sftp_login).
"""

from __future__ import annotations

import ipaddress

# showmount prints these for an export open to every client (utils/showmount/showmount.c
# prints "(everyone)" for an empty group list; exportfs lists `*` as a client name).
EVERYONE = ("(everyone)", "*")


def parse_exports(text: str) -> dict[str, tuple[str, ...]]:
    """`showmount -e` output: the "Export list for SERVER:" header, then one `directory
    client,client` line per export (showmount.c pads the directory to the longest)."""
    found: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) != 2 or not words[0].startswith("/"):
            continue
        found[words[0]] = tuple(words[1].split(","))
    return found


def _covers(client: str, address: str) -> bool:
    """An export client matches the node: its address, a network holding it, or everyone."""
    if client in EVERYONE or client == address:
        return True
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(client, strict=False)
    except ValueError:
        return False  # a host name or wildcard barctl cannot resolve as the server would


def export_problem(text: str, directory: str, server: str, address: str) -> str:
    """Why this node (at `address`) cannot mount `server:directory`; "" when it is offered."""
    exports = parse_exports(text)
    if directory not in exports:
        offered = ", ".join(exports) or "nothing"
        return (
            f"{server} does not export {directory} (showmount -e offers {offered}):"
            " run `barctl setup`"
        )
    if not any(_covers(client, address) for client in exports[directory]):
        return (
            f"{server}:{directory} is not exported to {address} (only to"
            f" {','.join(exports[directory])}): run `barctl setup`"
        )
    return ""


def showmount_problem(detail: str, server: str) -> str:
    """A `showmount -e` that failed: mountd unreachable from this node."""
    return f"cannot list {server}'s NFS exports from this node (showmount -e): {detail}"


def login_problem(detail: str, user: str, server: str) -> str:
    """A non-interactive SFTP login that failed, as lftp's would after the whole tar."""
    return (
        f"cannot log in to the SFTP target as {user}@{server} without a prompt ({detail}):"
        " root's key must be authorized there and root's known_hosts must know it"
        " (`barctl setup` seeds known_hosts)"
    )
