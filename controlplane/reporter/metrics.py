"""The reporter's Prometheus metrics, served on CONTROLPLANE_REPORTER_METRICS_BIND when it is set
(`controlplane reporter`): every node message by task and outcome, how long it took to apply,
and its lag, from the moment its node sealed it to the moment it was applied (the time it
waited in the broker, plus any clock skew between the node and the reporter's host).

The reporter is one process (its tasks run on threads), so its registry is its own.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

MESSAGES = Counter(
    "controlplane_reporter_messages",
    "Node messages handled, by task and outcome (applied, refused by the gate, failed).",
    ["task", "outcome"],
)
APPLY = Histogram(
    "controlplane_reporter_apply_seconds",
    "Time to apply a node message the gate let in, by task.",
    ["task"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
LAG = Histogram(
    "controlplane_reporter_lag_seconds",
    "From a node sealing a message to the reporter applying it, by task.",
    ["task"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
