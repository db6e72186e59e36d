"""What a service's containers are made from, read off its records.

A service's definition (its image, its container options, its links) is a template: a
container takes it when it is made, and again before its first start and each redeploy, so a
change reaches the containers deployed after it (docs/api.md, services). The rules themselves
are pure and live in the core (`core.links`: link variables and networks); this module applies
them to the service's records, and says where a linking service's containers may be placed,
which takes a query. The service controller (`controlplane.servicecontrol`) and the stack
export (`controlplane.stackcontrol`) use it; it writes nothing but the records it is given.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from controlplane.core import links
from controlplane.core.service_validation import service_body
from controlplane.db import nodes, services
from controlplane.db.engine import new_uuid
from controlplane.db.models import Container, Service

# The stored fields `service_body` reads back into a create body.
STORED_FIELDS = (
    "name",
    "image_name",
    "target_num_containers",
    "deployment_strategy",
    "autoreplace",
    "sequential_deployment",
    "linked_to_service",
    "tags",
    "definition",
)
# The stored fields whose change a container sees only once redeployed.
_DEFINING = ("image_name", "linked_to_service", "definition")


def stored_body(service: Service) -> dict[str, Any]:
    """The create body that makes this service again: what an update is validated against
    (as a whole, like a create), and what a stack's export writes."""
    return service_body({key: getattr(service, key) for key in STORED_FIELDS})


def redefines(service: Service, values: dict[str, Any]) -> bool:
    """Whether an update's `values` change what the service's containers are made from, which
    they take only when redeployed (the service is not `synchronized` until then)."""
    return any(values[key] != getattr(service, key) for key in _DEFINING)


def container_fields(
    service: Service, number: int, linked: list[tuple[str, Service]]
) -> dict[str, Any]:
    """The fields of the service's new container number `number`, named after the service."""
    unique_name = f"{service.unique_name}-{number}"
    return {
        **_definition(service, unique_name, linked),
        "uuid": new_uuid(),
        "name": f"{service.name}-{number}",
        "unique_name": unique_name,
        "service_id": service.id,
        "service": service,
        "service_index": number,
    }


def copy_definition(
    service: Service, container: Container, linked: list[tuple[str, Service]]
) -> None:
    """Give a container the service's current definition before a redeploy (or its first
    start), so a PATCH takes effect on the containers deployed after it."""
    for key, value in _definition(service, container.unique_name, linked).items():
        setattr(container, key, value)


def _definition(
    service: Service, unique_name: str, linked: list[tuple[str, Service]]
) -> dict[str, Any]:
    """A container's definition from its service's: its links' (`core.links`), under the
    service's and the container's unique names, with the service's image and generation."""
    return {
        **links.linked_definition(
            service.definition,
            owner_id=service.owner_id,
            aliases=[service.unique_name, unique_name],
            linked=linked,
        ),
        "image_name": service.image_name,
        "generation": service.generation,
    }


def nodes_near_links(
    session: Session, linked: list[tuple[str, Service]], loads: list[nodes.NodeLoad]
) -> list[nodes.NodeLoad]:
    """The nodes a linking service's new containers may go to: those holding a live
    container of every service it links to, since a link is resolved on the node's own
    network (there is no network across nodes; docs/api.md, links)."""
    if not linked:
        return loads
    held = services.nodes_holding(session, (target.id for _, target in linked))
    common = set.intersection(*(held.get(target.id, set()) for _, target in linked))
    return [load for load in loads if load.uuid in common]
