"""Which plan node the gate asks what every galera member answers alike (issue 12 item 1).

The database list and the accounts are the cluster's, not a node's: galera replicates the
InnoDB schemas, and account statements (CREATE USER, GRANT) are replicated as DDL. Asking them
of every galera node cost two podman+mysql runs per node for the same answer. They are asked of
ONE node, chosen deterministically: the first plan node, in inventory order, whose probe reached
its galera queries (container found, password read). The nodes are probed in parallel, so each
candidate waits only until every node before it has either become a candidate (then it is not
the one) or dropped out. A chosen node whose queries then fail refuses the run with its own
reason, as before: every plan node must pass the gate, so doubt still refuses.

No deadlock: the pool takes the nodes in plan order, so every node a candidate waits on has
already started, and each node reports exactly once (`withdraw` in a finally).
"""

from __future__ import annotations

import threading


class ClusterQueryElection:
    """Elects the first candidate in plan order; every node reports once, by its index."""

    def __init__(self, count: int) -> None:
        self._reported: list[bool | None] = [None] * count
        self._changed = threading.Condition()

    def elect(self, index: int, *, candidate: bool) -> bool:
        """Report node `index`; True when it is the one to ask (it is a candidate and no node
        before it is). Waits only while a node before it has not reported."""
        with self._changed:
            if self._reported[index] is None:
                self._reported[index] = candidate
                self._changed.notify_all()
            if not self._reported[index]:
                return False
            self._changed.wait_for(lambda: self._decided(index))
            return not any(self._reported[:index])

    def _decided(self, index: int) -> bool:
        before = self._reported[:index]
        return any(before) or None not in before

    def withdraw(self, index: int) -> None:
        """Node `index` never reached its galera queries (or failed before): not a candidate."""
        self.elect(index, candidate=False)
