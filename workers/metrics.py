"""The node agent's Prometheus metrics, served on CONTROLPLANE_AGENT_METRICS_BIND when it is set:
every lifecycle operation by outcome, and how long Docker took to carry it out.

Outcomes: `succeeded`, `failed` (Docker or the node's policy refused it; the action is Failed
with the reason), `refused` (its claim was refused: canceled, or already run), `unanswered`
(nobody answered its claim; the task is retried) and `error` (a bug, reported as a failure).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

OPERATIONS = Counter(
    "controlplane_agent_operations",
    "Lifecycle operations handled, by operation and outcome.",
    ["operation", "outcome"],
)
DURATION = Histogram(
    "controlplane_agent_operation_seconds",
    "Time to carry out an operation on Docker once its claim was granted, by operation.",
    ["operation"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
