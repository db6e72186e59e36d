"""Model -> Tutum JSON. The wire contract clients depend on lives here and only here.

Rules from docs/api.md that shape this file: every object carries `uuid` and `resource_uri`
(in the URL tree of the request, see `trees`)
(§3.3); no key may be `logs`, `pk`, `is_dirty`, a method name of the SDK objects or start with
`_`; dates are `Thu, 16 Oct 2014 12:04:08 +0000` in UTC (§3.7); lists are the `meta`/`objects`
envelope with a root-relative `next` that becomes null on the last page (§3.1).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from controlplane.api.trees import Links
from controlplane.core.errors import ControlPlaneError
from controlplane.core.lifecycle import (
    TRANSITIONAL_STATES,
    Action,
    ActionState,
    NodeState,
    State,
    is_allowed,
)
from controlplane.core.messages import Event, ExecStreamMessage, LogStreamMessage
from controlplane.db.actions import action_object
from controlplane.db.models import ActionRecord, Container, Node

# What the Tutum events stream sends before closing a socket whose credentials failed; python-tutum
# raises TutumAuthError on it, where a refused handshake would make it reconnect forever (§7.3).
UNAUTHORIZED_FRAME = {"type": "error", "data": {"errorMessage": "UNAUTHORIZED"}}
# The `output` of an exec's last frame, its exit or its error (§6.6): go-tutum's and
# go-dockercloud's `Container.Exec` return only once a frame's `output` is "EOF"; the Python CLIs
# ignore a frame without a `streamType`.
EXEC_END_OUTPUT = "EOF"


def format_date(value: datetime | None) -> str | None:
    """RFC 2822 date with a literal +0000, the only form the Tutum CLI parses."""
    if value is None:
        return None
    return format_datetime(value.replace(tzinfo=UTC))


def exit_code_msg(exit_code: int | None, reason: str | None = None) -> str | None:
    """Tutum's "Exit code N (Success|Failure)", followed by why the container stopped when the
    node knows more than the code says (an OOM kill, a container removed by hand)."""
    if exit_code is None:
        return reason
    message = f"Exit code {exit_code} ({'Success' if exit_code == 0 else 'Failure'})"
    return f"{message}: {reason}" if reason else message


# Definition fields, returned as stored: `core.validation` normalised them on the way in.
DEFINITION_FIELDS = (
    "run_command",
    "entrypoint",
    "working_dir",
    "container_envvars",
    "labels",
    "memory",
    "memory_swap",
    "cpu_shares",
    "cpuset",
    "user",
    "hostname",
    "domainname",
    "mac_address",
    "tty",
    "stdin_open",
    "read_only",
    "privileged",
    "dns",
    "dns_search",
    "extra_hosts",
    "net",
    "pid",
    "cap_add",
    "cap_drop",
    "devices",
    "security_opt",
    "bindings",
    "autorestart",
    # Enforced by the node agent when the container's process exits (docs/api.md §3.11).
    "autodestroy",
)
_UNSPECIFIED_ADDRESSES = frozenset({"", "0.0.0.0", "::"})


def container_ports_to_json(container: Container) -> list[dict[str, Any]]:
    """The requested ports, with the host port Docker really bound while the container runs.

    A port published with a null `outer_port` shows the port Docker picked once the node has
    reported it, and null again when the container stops (the next run may get another).
    """
    bound = {(p["inner_port"], p["protocol"]): p for p in container.bound_ports}
    ports = []
    for port in container.container_ports:
        binding = bound.get((port["inner_port"], port["protocol"]))
        ports.append(
            {
                **port,
                "outer_port": binding["outer_port"] if binding else port["outer_port"],
                "port_name": "",
                "uri_protocol": port["protocol"],
                "endpoint_uri": _endpoint_uri(binding, container.node.name) if binding else None,
            }
        )
    return ports


def _endpoint_uri(binding: dict[str, Any], node_name: str) -> str:
    """Where a published port answers: the address it is bound on, or the node's name when it
    is bound on every address."""
    address = binding["host_ip"]
    host = node_name if address in _UNSPECIFIED_ADDRESSES else address
    if ":" in host:
        host = f"[{host}]"
    return f"{binding['protocol']}://{host}:{binding['outer_port']}/"


def is_synchronized(container: Container) -> bool:
    """Whether the state shown is what Docker has: not while an operation is under way, and
    not while the node is Unreachable (the state is the last one known, kept as it was)."""
    stable = State(container.state) not in TRANSITIONAL_STATES
    return stable and container.node.state == NodeState.DEPLOYED.value


def container_to_json(container: Container, links: Links) -> dict[str, Any]:
    return {
        "uuid": container.uuid,
        "resource_uri": links.uri("container", container.uuid),
        "image_name": container.image_name,
        "image_tag": None,
        "name": container.name,
        "unique_name": container.unique_name,
        "state": container.state,
        "synchronized": is_synchronized(container),
        "node": links.uri("node", container.node.uuid),
        "service": links.uri("service", container.service.uuid) if container.service else None,
        # Tutum's containers inherited their node's FQDN; the CLIs print ports as
        # `<public_dns>:<outer_port>-><inner_port>/<protocol>` (docs/api.md §3.4).
        "public_dns": container.node.name,
        "private_ip": "",
        "exit_code": container.exit_code,
        "exit_code_msg": exit_code_msg(container.exit_code, container.state_reason),
        # Not in the Tutum API, which has no paused state (docs/api.md §8.1).
        "paused": container.paused,
        "deployed_datetime": format_date(container.deployed_datetime),
        "started_datetime": format_date(container.started_datetime),
        "stopped_datetime": format_date(container.stopped_datetime),
        "destroyed_datetime": format_date(container.destroyed_datetime),
        **{name: getattr(container, name) for name in DEFINITION_FIELDS},
        "container_ports": container_ports_to_json(container),
        "roles": [],
        "linked_to_container": [],
        "link_variables": {},
    }


def action_to_json(action: ActionRecord, links: Links) -> dict[str, Any]:
    return {
        "uuid": action.uuid,
        "resource_uri": links.uri("action", action.uuid),
        "object": links.uri(*action_object(action)),
        "action": action.name,
        "method": action.method,
        "path": action.path,
        "user_agent": action.user_agent,
        "ip": action.ip,
        "location": "",
        "body": action.body,
        "state": action.state,
        "reason": action.reason,
        "start_date": format_date(action.start_date),
        "end_date": format_date(action.end_date),
        "user": action.owner.username,
        "is_user_action": True,
        "can_be_canceled": action.state == ActionState.PENDING,
        "can_be_retried": can_be_retried(action),
    }


def can_be_retried(action: ActionRecord) -> bool:
    """A failed operation whose container is again in a state that allows it."""
    if (
        action.container is None
        or action.state != ActionState.FAILED
        or action.operation not in set(Action)
    ):
        return False
    return is_allowed(State(action.container.state), Action(action.operation))


def node_to_json(node: Node, links: Links, *, live_containers: int) -> dict[str, Any]:
    return {
        "uuid": node.uuid,
        "resource_uri": links.uri("node", node.uuid),
        "nickname": node.name,
        "external_fqdn": node.name,
        "state": node.state,
        "docker_version": node.docker_version,
        "cpu": node.cpu,
        "memory": node.memory_mb,
        "disk": node.disk_gb,
        "current_num_containers": live_containers,
        "last_seen": format_date(node.last_seen),
        "deployed_datetime": format_date(node.deployed_datetime),
        "destroyed_datetime": None,
        "tags": [{"name": name} for name in node.tags],
        "node_cluster": None,
        "node_type": None,
        "region": None,
        "availability_zone": None,
    }


def page_to_json(
    objects: list[dict[str, Any]],
    *,
    path: str,
    query: dict[str, str],
    limit: int,
    offset: int,
    total: int,
    shown: int | None = None,
) -> dict[str, Any]:
    """The Tastypie-style envelope; `next` is null on the last page or the SDKs loop forever.

    A page cut short by its byte budget (only `shown` of its objects fit) says `limit: shown`,
    and its `next` starts right after it, so a client that follows `next` or adds `meta.limit`
    to its offset misses nothing."""

    def link(new_offset: int) -> str:
        return f"{path}?{urlencode({**query, 'limit': limit, 'offset': new_offset})}"

    size = limit if shown is None else shown
    return {
        "meta": {
            "limit": size,
            "offset": offset,
            "total_count": total,
            "next": link(offset + size) if offset + size < total else None,
            "previous": link(max(offset - limit, 0)) if offset > 0 else None,
        },
        "objects": objects,
    }


def event_to_json(event: Event, links: Links, *, with_identity: bool) -> dict[str, Any]:
    """An events-stream message (§7); Docker Cloud adds the event's own uuid and ISO date."""
    body: dict[str, Any] = {
        "type": event.type,
        "action": event.action,
        "state": event.state,
        "resource_uri": links.uri(event.type, event.object_uuid),
        "parents": [links.uri(kind, uuid) for kind, uuid in event.parents],
    }
    if with_identity:
        body["uuid"] = event.uuid
        body["datetime"] = event.datetime
    return body


def log_line_to_json(message: LogStreamMessage) -> dict[str, Any]:
    """A log-stream frame (§6.2): one line with its newline, its stream and Unix seconds."""
    return {
        "type": "log",
        "log": message.text,
        "streamType": message.stream,
        "timestamp": message.observed_ns // 1_000_000_000,
    }


def exec_output_to_json(message: ExecStreamMessage) -> dict[str, Any]:
    """An exec's output frame (§6.6): text of one stream, as the node read it (not whole lines),
    under the keys the CLIs print (`output` on the stream `streamType` names)."""
    return {"type": "output", "output": message.text, "streamType": message.stream}


def exec_exit_to_json(exit_code: int) -> dict[str, Any]:
    """An exec's last frame when its command ran to its end (§6.6)."""
    return {"type": "exit", "exitCode": exit_code, "output": EXEC_END_OUTPUT}


def exec_error_to_json(error: ControlPlaneError) -> dict[str, Any]:
    """An exec's last frame when its command could not run or was lost (§6.7): the error in the
    shape of the error frames the CLIs read (`data.errorMessage`), with its code and field."""
    data: dict[str, Any] = {"errorMessage": error.message, "code": error.code}
    if error.field is not None:
        data["field"] = error.field
    return {"type": "error", "data": data, "output": EXEC_END_OUTPUT}
