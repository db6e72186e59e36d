"""The lease sweeper: a thread of the reporter process that declares silent nodes Unreachable.

It runs beside the reporter's Celery worker because the reporter is the only writer of observed
state, and a node's reachability is observed state (the absence of heartbeats). Several reporters
may sweep at once: `nodes.expire_node_leases` moves each node with a conditional UPDATE, so one
reporter wins each node and only it publishes the node's event. A node comes back to Deployed
when its next heartbeat is applied (`nodes.apply_node_report`), not here.
"""

from __future__ import annotations

import logging
import threading

from controlplane import events
from controlplane.core import lease
from controlplane.db import nodes
from controlplane.db.engine import Database, utcnow

log = logging.getLogger(__name__)


class LeaseSweeper:
    def __init__(
        self, database: Database, publisher: events.EventPublisher, *, grace: float
    ) -> None:
        self.database = database
        self.publisher = publisher
        self.grace = grace
        self.interval = lease.sweep_interval(grace)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)

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

    def _run(self) -> None:
        # A reporter that was down has heartbeats waiting in the broker; judging the nodes before
        # a grace period of them has been applied would flap every node Unreachable and back.
        if self._stop.wait(self.grace):
            return
        while not self._stop.wait(self.interval):
            try:
                self.sweep()
            except Exception as exc:  # a locked or lost database: the next pass tries again
                log.warning("lease sweep failed, retrying in %s s: %s", self.interval, exc)
