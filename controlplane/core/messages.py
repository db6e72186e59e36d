"""Payloads that cross the broker: operations sent to node agents and reports sent back.

Pure and stdlib-only, shared by the API, the reporter and the node agent, so both ends of every
queue agree on one shape. Messages travel as plain JSON dicts (Celery's json serializer); each
class round-trips through `to_dict`/`from_dict`, and `from_dict` ignores keys it does not know so
that a newer sender does not break an older receiver during a rolling upgrade.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

from controlplane.core.lifecycle import Action, State
from controlplane.core.signing import FROM_NODE

# Celery task names and queues: explicit, dotted and stable, because they are the wire contract
# between processes that may run different versions.
TASK_START = "agent.container.start"
TASK_STOP = "agent.container.stop"
TASK_TERMINATE = "agent.container.terminate"
TASK_REDEPLOY = "agent.container.redeploy"
TASK_LOGS = "agent.container.logs"
TASK_LOGS_STREAM = "agent.container.logs.stream"
# Run a command in a running container and stream its output (docs/api.md §6.5).
TASK_EXEC = "agent.container.exec"
# Remove a Docker container no live record owns (an orphan).
TASK_COLLECT = "agent.container.collect"
TASK_REPORT_CONTAINER = "controlplane.report.container"
# Many container reports in one message, applied in one transaction (a burst of events).
TASK_REPORT_CONTAINERS = "controlplane.report.containers"
TASK_REPORT_NODE = "controlplane.report.node"
TASK_REPORT_PICTURE = "controlplane.report.picture"
TASK_CLAIM_ACTION = "controlplane.action.claim"
REPORTER_QUEUE = "controlplane"
# Claims wait on the reporter while an operation holds its start; their own queue keeps them
# from queueing behind a burst of reports.
CLAIM_QUEUE = "controlplane.claims"
# Heartbeats have a queue of their own, which the reporter drains in batches, one transaction a
# batch (`controlplane.reporter.heartbeats`): a thousand nodes beating every few seconds would
# otherwise cost a task and a transaction each, and queue reports behind them.
HEARTBEAT_QUEUE = "controlplane.heartbeats"
# The fanout exchange every API process listens on for state-change events.
EVENTS_EXCHANGE = "controlplane.events"

OPERATION_TASKS: dict[Action, str] = {
    Action.START: TASK_START,
    Action.STOP: TASK_STOP,
    Action.TERMINATE: TASK_TERMINATE,
    Action.REDEPLOY: TASK_REDEPLOY,
}
# Actions whose operation may create a Docker container, and so carry the container's spec.
CREATING_ACTIONS = frozenset({Action.START, Action.REDEPLOY})

# Labels put on every Docker container the agent creates, so a node can be relisted and a retried
# task finds the container it already made.
LABEL_CONTAINER_UUID = "io.controlplane.container_uuid"
LABEL_NODE_UUID = "io.controlplane.node_uuid"
# The container's autodestroy setting, which the agent enforces when the container exits.
LABEL_AUTODESTROY = "io.controlplane.autodestroy"
LABEL_PREFIX = "io.controlplane."


# A node tag name: what an agent may report and a create may ask for.
TAG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")  # whole names: fullmatch


def node_queue(node_uuid: str) -> str:
    """The Celery queue a node's agent consumes; one per node so work reaches the right host."""
    return f"node.{node_uuid}"


def log_channel(stream_id: str) -> str:
    """The Redis pub/sub channel one log stream travels on, from the agent to one API socket."""
    return f"controlplane.logs.{stream_id}"


def log_subject(stream_id: str) -> str:
    """What a log stream's messages are sealed as (`controlplane.core.signing`): from a node,
    for this one stream."""
    return f"{FROM_NODE}:log:{stream_id}"


def exec_channel(stream_id: str) -> str:
    """The Redis pub/sub channel one exec's output travels on, from the agent to one API
    socket."""
    return f"controlplane.exec.{stream_id}"


def exec_subject(stream_id: str) -> str:
    """What an exec's messages are sealed as: from a node, for this one exec (never taken for
    a log stream's, nor the other way round)."""
    return f"{FROM_NODE}:exec:{stream_id}"


_T = TypeVar("_T", bound="_Message")


@dataclass(frozen=True)
class _Message:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls: type[_T], data: dict[str, Any]) -> _T:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class ContainerSpec(_Message):
    """Everything a node needs to create the Docker container for one control-plane container.

    The fields are the container fields of the API (docs/api.md §3.4), already validated, with
    one translation: a binding's `volume` is the Docker volume's name on the node, which the
    control plane scopes to the container's owner. Published ports are bound on the host address
    the agent is configured with; the spec does not choose it.
    """

    uuid: str
    unique_name: str
    image_name: str
    run_command: str | None = None
    entrypoint: str = ""
    working_dir: str = ""
    container_envvars: list[dict[str, str]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    memory: int | None = None
    memory_swap: int | None = None
    cpu_shares: int | None = None
    cpuset: str = ""
    user: str = ""
    hostname: str = ""
    domainname: str = ""
    mac_address: str = ""
    tty: bool = False
    stdin_open: bool = False
    read_only: bool = False
    privileged: bool = False
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    extra_hosts: list[str] = field(default_factory=list)
    net: str = "bridge"
    pid: str = "none"
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    security_opt: list[str] = field(default_factory=list)
    # [{protocol, inner_port, outer_port (None: Docker picks), published}]
    container_ports: list[dict[str, Any]] = field(default_factory=list)
    # [{host_path, container_path, rewritable, volume}]; neither host_path nor volume: anonymous
    bindings: list[dict[str, Any]] = field(default_factory=list)
    autorestart: str = "OFF"
    autodestroy: str = "OFF"
    # A user-defined bridge network to join instead of Docker's default bridge (created on the
    # node if missing), and the names the container answers to on it. Empty for a plain
    # container: only a service's containers get one (docs/api.md, links).
    network: str = ""
    network_aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ClaimRequest(_Message):
    """A node agent asks before it runs an operation: may this node run this Action now?"""

    action_uuid: str
    container_uuid: str
    node_uuid: str
    request_id: str = ""  # the operation's, for the reporter's log line


@dataclass(frozen=True)
class ClaimVerdict(_Message):
    """The reporter's answer to a claim. Only a granted claim lets the operation run; `reason`
    says why one was refused (canceled, closed, superseded, unknown or not this node's)."""

    granted: bool
    reason: str | None = None


@dataclass(frozen=True)
class Operation(_Message):
    """One lifecycle operation for a node agent: start, stop, redeploy or terminate a container.

    `rollback_state` is the stable state the container was in when the API accepted the action;
    the agent sends it back on failure so the container never stays in a transitional state.
    `issued_ns` lets the agent recognise a start redelivered after the container was stopped
    again, which it must not undo, and a redeploy redelivered after it already made the new
    container, which it must not make twice. `reuse_volumes` matters to redeploy only.
    """

    action: str
    action_uuid: str
    container_uuid: str
    rollback_state: str
    issued_ns: int
    spec: dict[str, Any] | None = None
    stop_timeout: int = 10
    reuse_volumes: bool = True
    # The id of the API request that queued it, for the agent's log lines (`core.logcontext`);
    # "" when none did (a service's convergence) or from an older control plane.
    request_id: str = ""

    @property
    def kind(self) -> Action:
        return Action(self.action)


@dataclass(frozen=True)
class ContainerReport(_Message):
    """What a node observed about a container, stamped with when it was observed.

    `observed_ns` is Docker's own timestamp (StartedAt, FinishedAt, event time) where Docker gives
    one and the agent's clock otherwise; the reporter uses it to drop stale and duplicate reports.
    `action_uuid` and `error` close the Action that caused the observation, when there is one.
    `reason` says why a container stopped or went away when the control plane did not do it (an
    OOM kill, a `docker rm` by hand); it is shown to clients beside the exit code.
    `ports` are the host ports Docker bound (`[{protocol, inner_port, host_ip, outer_port}]`,
    empty while the container is not running); None when the report observed no container.
    `paused`: a Running container whose processes Docker has frozen (`docker pause`).
    """

    container_uuid: str
    state: str
    observed_ns: int
    node_uuid: str
    action_uuid: str | None = None
    error: str | None = None
    exit_code: int | None = None
    docker_id: str | None = None
    ports: list[dict[str, Any]] | None = None
    reason: str | None = None
    paused: bool = False

    @property
    def observed_state(self) -> State:
        return State(self.state)


@dataclass(frozen=True)
class NodePicture(_Message):
    """Every container a node holds, as one batch: the relist that repairs drift.

    `observed_ns` is when the listing began (the agent's clock); a record observed after it may
    hold a container the listing could not see yet, so its absence proves nothing.
    `containers` are `ContainerReport` dicts.
    """

    node_uuid: str
    observed_ns: int
    containers: list[dict[str, Any]] = field(default_factory=list)
    # Every labelled Docker container of the node, `DockerContainer` dicts: unlike
    # `containers`, also the ones never started and more than one per uuid (mid-redeploy).
    docker: list[dict[str, Any]] = field(default_factory=list)

    def reports(self) -> list[ContainerReport]:
        return [ContainerReport.from_dict(report) for report in self.containers]

    def inventory(self) -> list[DockerContainer]:
        return [DockerContainer.from_dict(listed) for listed in self.docker]


@dataclass(frozen=True)
class DockerContainer(_Message):
    """One labelled Docker container as its node lists it: what orphan collection judges."""

    container_uuid: str
    docker_id: str
    # When Docker created it, on the node's clock (as the picture's `observed_ns` is).
    created_ns: int
    # Docker's status: created, running, exited, paused, ...
    status: str


@dataclass(frozen=True)
class Collect(_Message):
    """Remove one orphan from its node: a labelled Docker container that no live record owns.

    `created_only`: remove it only while it was never started (the leftover of a first start
    that failed; a new start of the same record adopts such a container, and must keep it).
    """

    container_uuid: str
    docker_id: str
    reason: str
    created_only: bool = False


@dataclass(frozen=True)
class NodeReport(_Message):
    """A node agent's registration: who it is and what the Docker host offers."""

    node_uuid: str
    docker_version: str
    cpu: int
    memory_mb: int
    observed_ns: int
    disk_gb: int = 0
    # The node's tags (CONTROLPLANE_AGENT_TAGS), which a create may ask for.
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LogStreamRequest(_Message):
    """Asks a node agent to stream a container's log lines to `log_channel(stream_id)`.

    `tail` is the number of lines to send from the end (None: all of them); with `follow` the
    agent keeps sending new lines until the container is removed or nobody listens any more.
    """

    stream_id: str
    container_uuid: str
    tail: int | None
    follow: bool


# Kinds of LogStreamMessage: the agent opens the stream, sends lines, ticks while the container
# is quiet (so each side learns the other is still there) and ends it, with an error or not.
LOG_OPEN = "open"
LOG_LINE = "line"
LOG_TICK = "tick"
LOG_END = "end"
# A stream sends something at least this often; the API gives up on a node silent for longer.
LOG_TICK_SECONDS = 5


@dataclass(frozen=True)
class LogStreamMessage(_Message):
    """One message on a log stream's channel; `stream` is "stdout" or "stderr" for a line."""

    kind: str
    stream: str | None = None
    text: str = ""
    observed_ns: int = 0
    error: str | None = None


@dataclass(frozen=True)
class ExecRequest(_Message):
    """Asks a node agent to run `command` (program first, already split) in a running container
    and to send its output, then its exit code, to `exec_channel(stream_id)`.

    Unlike a log-stream request, a copy of this one would act again: the agent runs it only
    while its seal is fresh and its nonce unseen (`workers.execstream.RequestGuard`), and only
    while the API socket listens.
    """

    stream_id: str
    container_uuid: str
    command: list[str]


# Kinds of ExecStreamMessage: the agent opens the exec's channel before it runs anything (a
# request nobody listens for any more runs nothing), sends output as Docker hands it over, ticks
# while the command is quiet, and ends with the exit code or with why it could not run.
EXEC_OPEN = "open"
EXEC_OUTPUT = "output"
EXEC_TICK = "tick"
EXEC_EXIT = "exit"
EXEC_FAILED = "failed"
EXEC_TICK_SECONDS = LOG_TICK_SECONDS


@dataclass(frozen=True)
class ExecStreamMessage(_Message):
    """One message on an exec's channel: output (`stream` "stdout" or "stderr", `text`), the
    exit code, or a failure (`error`, and `code`, the error code the API shows it with)."""

    kind: str
    stream: str | None = None
    text: str = ""
    exit_code: int | None = None
    error: str | None = None
    code: str | None = None


@dataclass(frozen=True)
class Event(_Message):
    """A state change, as it crosses the events exchange from where it was written to every API
    process, which renders it for each socket in that socket's URL tree.

    `parents` are `[kind, uuid]` pairs; `owner_id` is None for objects every user may see
    (nodes). `datetime` is ISO 8601 UTC with a `Z`, as Docker Cloud events carry it.
    """

    type: str
    action: str
    uuid: str
    object_uuid: str
    state: str
    datetime: str
    owner_id: int | None = None
    parents: list[list[str]] = field(default_factory=list)
