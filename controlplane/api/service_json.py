"""Service and stack -> Tutum JSON (the shapes of the old API's service and stack objects).

A service's state and counts are derived from its live containers (`db.services.members_of`),
never stored, so they are as true as the containers' own states.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from controlplane.api.serializers import DEFINITION_FIELDS, format_date
from controlplane.api.trees import Links
from controlplane.core.lifecycle import State
from controlplane.core.servicestate import Goal, derive_stack_state
from controlplane.db.models import Service, Stack
from controlplane.db.services import Member, state_of


def service_to_json(service: Service, members: Sequence[Member], links: Links) -> dict[str, Any]:
    states = [member.state for member in members]
    definition = service.definition
    return {
        "uuid": service.uuid,
        "resource_uri": links.uri("service", service.uuid),
        "image_name": service.image_name,
        "image_tag": None,
        "name": service.name,
        "unique_name": service.unique_name,
        "state": state_of(service, states).value,
        "synchronized": service.synchronized,
        # Where its first container's published ports answer: that container's node.
        "public_dns": members[0].public_dns if members else None,
        "stack": links.uri("stack", service.stack.uuid) if service.stack else None,
        "target_num_containers": service.target_num_containers,
        "current_num_containers": len(states),
        "running_num_containers": states.count(State.RUNNING),
        "stopped_num_containers": states.count(State.STOPPED),
        "containers": [links.uri("container", member.uuid) for member in members],
        "deployment_strategy": service.deployment_strategy,
        "autoreplace": service.autoreplace,
        "sequential_deployment": service.sequential_deployment,
        "tags": [{"name": tag} for tag in service.tags],
        "roles": [],
        "linked_to_service": [
            {
                "from_service": links.uri("service", service.uuid),
                "to_service": links.uri("service", link["to_service"]),
                "name": link["name"],
            }
            for link in service.linked_to_service
        ],
        "linked_from_service": [],
        "link_variables": {},
        "deployed_datetime": format_date(service.deployed_datetime),
        "started_datetime": format_date(service.started_datetime),
        "stopped_datetime": format_date(service.stopped_datetime),
        "destroyed_datetime": format_date(service.destroyed_datetime),
        **{name: definition.get(name) for name in DEFINITION_FIELDS},
        "container_ports": [
            {**port, "port_name": "", "uri_protocol": port["protocol"], "endpoint_uri": None}
            for port in definition.get("container_ports", [])
        ],
    }


def stack_to_json(
    stack: Stack,
    services: Sequence[Service],
    members: Mapping[int, Sequence[Member]],
    links: Links,
) -> dict[str, Any]:
    """A stack with its services: whole objects in the Tutum tree, as Tutum gave them; their
    resource URIs in Docker Cloud's, as Docker Cloud gave them."""
    states = (state_of(service, (m.state for m in members[service.id])) for service in services)
    whole = links.tree.name == "tutum"
    return {
        "uuid": stack.uuid,
        "resource_uri": links.uri("stack", stack.uuid),
        "name": stack.name,
        "state": derive_stack_state(stack.goal == Goal.TERMINATED.value, states).value,
        "synchronized": all(service.synchronized for service in services),
        "services": [
            service_to_json(service, members[service.id], links)
            if whole
            else links.uri("service", service.uuid)
            for service in services
        ],
        "deployed_datetime": format_date(stack.deployed_datetime),
        "destroyed_datetime": format_date(stack.destroyed_datetime),
        "nickname": stack.name,
    }
