"""The lease sweeper: a thread of the reporter process that declares silent nodes Unreachable.

It runs beside the reporter's Celery worker because the reporter is the only writer of observed
state, and a node's reachability is observed state (the absence of heartbeats). Several reporters
may sweep at once: `nodes.expire_node_leases` moves each node with a conditional UPDATE, so one
reporter wins each node and only it publishes the node's event. A node comes back to Deployed
when its next heartbeat is applied (`nodes.apply_node_report`), not here.

Silence is judged only once the heartbeats waiting for the reporters have been taken up: while
more than a batch of them waits in the heartbeat queue (`backlog`), the reporters are behind,
not the nodes, and the sweep is put off (and logged), so an overloaded reporter never declares
a thousand healthy nodes Unreachable and refuses every action on them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from controlplane import events
from controlplane.core import lease
from controlplane.core.periodic import Periodic
from controlplane.db import nodes
from controlplane.db.engine import Database, utcnow

log = logging.getLogger(__name__)


# Heartbeats waiting beyond this many, the reporters are behind (a batch of the intake's).
BEHIND = 500


class LeaseSweeper(Periodic):
    def __init__(
        self,
        database: Database,
        publisher: events.EventPublisher,
        *,
        grace: float,
        backlog: Callable[[], int] = lambda: 0,
    ) -> None:
        interval = lease.sweep_interval(grace)
        # A reporter that was down has heartbeats waiting in the broker; judging the nodes before
        # a grace period of them has been applied would flap every node Unreachable and back. The
        # first pass comes an interval after that grace period.
        super().__init__(
            "lease-sweeper",
            interval,
            self.sweep,
            log=log,
            first_delay=grace + interval,
            what="lease sweep",
        )
        self.database = database
        self.publisher = publisher
        self.grace = grace
        self.backlog = backlog

    def sweep(self) -> None:
        """One pass: expire the leases of nodes silent for longer than the grace period."""
        waiting = self.backlog()
        if waiting > BEHIND:
            log.warning("lease sweep put off: %d heartbeats wait to be applied", waiting)
            return
        with self.database.session() as session:
            expired = nodes.expire_node_leases(
                session, cutoff=lease.lease_cutoff(utcnow(), self.grace)
            )
            self.publisher.publish([events.node_event(node, events.UPDATE) for node in expired])
        for node in expired:
            log.warning(
                "node %s (%s) is Unreachable: no heartbeat for %s s",
                node.uuid,
                node.name,
                self.grace,
            )
