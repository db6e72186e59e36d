"""Node leases: when a node that stopped heartbeating is declared Unreachable.

Pure and stdlib-only, so the rule is tested without a database and shared by the reporter's
sweeper (`controlplane.reporter.sweeper`) and the store. A node holds a lease as long as its agent's
heartbeats keep arriving: each applied heartbeat moves `last_seen` to the reporter's clock, and a
node whose `last_seen` is older than the grace period is Unreachable. Only reporter clocks are
compared with each other, never an agent's, so a node host with a wrong clock is judged fairly.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def lease_cutoff(now: datetime, grace: float) -> datetime:
    """A node last seen before this moment has lost its lease."""
    return now - timedelta(seconds=grace)


def sweep_interval(grace: float) -> float:
    """How often the reporter looks for expired leases: a fifth of the grace period (at least
    a second), so a lost node is noticed at most a fifth of the grace late."""
    return max(1.0, grace / 5)
