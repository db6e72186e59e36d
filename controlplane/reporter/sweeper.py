"""The lease sweeper: a thread of the reporter process that declares silent nodes Unreachable.

It runs beside the reporter's Celery worker because the reporter is the only writer of observed
state, and a node's reachability is observed state (the absence of heartbeats). Several reporters
may sweep at once: `nodes.expire_node_leases` moves each node with a conditional UPDATE, so one
reporter wins each node and only it publishes the node's event. A node comes back to Deployed
when its next heartbeat is applied (`nodes.apply_node_report`), not here.
"""

from __future__ import annotations

import logging

from controlplane import events
from controlplane.core import lease
from controlplane.core.periodic import Periodic
from controlplane.db import nodes
from controlplane.db.engine import Database, utcnow

log = logging.getLogger(__name__)


class LeaseSweeper(Periodic):
    def __init__(
        self, database: Database, publisher: events.EventPublisher, *, grace: float
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

    def sweep(self) -> None:
        """One pass: expire the leases of nodes silent for longer than the grace period."""
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
