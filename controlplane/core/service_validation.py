"""Validation of the service create and update bodies (docs/api.md, services).

A service is a template for containers, so its body is a container create body
(`controlplane.core.validation`) under the old service API's names (`image`, not `image_name`)
plus the fields that say how many containers to run and how: `target_num_containers`,
`deployment_strategy`, `autoreplace`, `sequential_deployment`, `linked_to_service` and the
placement `tags`. Pure, like the container validation it builds on; which services a link names
is checked against the database by the caller.
"""

from __future__ import annotations

from typing import Any

from controlplane.core import checks, validation
from controlplane.core.errors import InvalidInputError
from controlplane.core.scheduler import EMPTIEST_NODE, EVERY_NODE, STRATEGIES

MAX_TARGET = 1000
# The old APIs' spellings of the strategies: Tutum's BALANCE and "EVERY NODE", Docker Cloud's
# in any case; each is stored as Docker Cloud spells it.
STRATEGY_ALIASES = {"BALANCE": EMPTIEST_NODE, "EVERY NODE": EVERY_NODE}
MAX_LINKS = 50

# Container fields a service does not take: its containers' names come from the service, and
# they are placed by the deployment strategy among the nodes with the service's tags.
_NOT_FOR_SERVICES = frozenset({"image_name", "name", "node", "tags"})
CONTAINER_FIELDS = frozenset(validation.CREATE_FIELDS) - _NOT_FOR_SERVICES


def _strategy(field: str, value: Any) -> str:
    if value is None:
        return EMPTIEST_NODE
    text = checks.string(field, value).upper()
    text = STRATEGY_ALIASES.get(text, text.replace(" ", "_"))
    if text not in STRATEGIES:
        raise InvalidInputError(field, f"must be one of {', '.join(STRATEGIES)} (or BALANCE)")
    return text


def _links(field: str, value: Any) -> list[dict[str, Any]]:
    """`{to_service, name}` items: a service's resource URI or uuid (a stack gives a service
    name), and the alias it is reached by (default: the linked service's name)."""
    links = []
    for where, item in checks.items(field, value, "a list of link objects"):
        checks.keys(where, item, required={"to_service"}, optional={"name", "from_service"})
        target = checks.member(where, item, "to_service", checks.required(checks.string))
        alias = checks.member(where, item, "name", checks.optional(_alias))
        links.append({"to_service": target.rstrip("/").rsplit("/", 1)[-1], "name": alias})
    if len(links) > MAX_LINKS:
        raise InvalidInputError(field, f"at most {MAX_LINKS} links")
    checks.refuse_repeats(field, [link["name"] for link in links if link["name"]], "{} twice")
    return links


def _alias(field: str, value: Any) -> str:
    text = checks.string(field, value)
    if not validation.NAME.fullmatch(text) or len(text) > 63:
        raise InvalidInputError(field, "must be 1 to 63 letters, digits, _ . - starting with one")
    return text


def _autoredeploy(field: str, value: Any) -> bool:
    """Docker Cloud redeployed a service when its image was pushed to its registry; no
    registry tells this control plane of a push, so only false (or null) is taken."""
    if checks.flag(field, value):
        raise InvalidInputError(
            field, "autoredeploy is not supported: no registry push reaches this control plane"
        )
    return False


def _roles(field: str, value: Any) -> list[str]:
    """Tutum's API roles gave containers an API key; no container here gets one."""
    if value:
        raise InvalidInputError(field, "roles are not supported: containers get no API access")
    return []


_SERVICE_FIELDS: dict[str, checks.Check] = {
    "name": validation.FIELD_CHECKS["name"],
    "target_num_containers": checks.int_range(0, MAX_TARGET),
    "deployment_strategy": _strategy,
    "autoreplace": checks.choice(validation.AUTORESTART_VALUES),
    "sequential_deployment": checks.flag,
    "linked_to_service": _links,
    "tags": validation.FIELD_CHECKS["tags"],
    "roles": _roles,
    "autoredeploy": _autoredeploy,
}
FIELDS = frozenset(_SERVICE_FIELDS) | CONTAINER_FIELDS | {"image"}


def validate_service(body: dict[str, Any]) -> dict[str, Any]:
    """The values of a new service: its own fields (with their defaults) and, under
    `definition`, the container values every container of the service is made from.

    Raises:
        InvalidInputError: a field is unknown, missing or out of range.
    """
    checks.document(body)
    body = dict(body)
    if "image_name" in body and "image" not in body:  # the container API's name for it
        body["image"] = body.pop("image_name")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise InvalidInputError(unknown[0], "unknown field; see the service fields in docs/api.md")
    if body.get("image") is None:
        raise InvalidInputError("image", "is required")
    container_body = {key: body[key] for key in CONTAINER_FIELDS if key in body}
    # Every field given, at its default where the body leaves it out: a definition is shown
    # whole and copied whole into each container.
    defaults = {key: None for key in CONTAINER_FIELDS if key not in container_body}
    definition = validation.validate_create(
        {"image_name": body["image"], **defaults, **container_body}
    )
    values = {key: check(key, body.get(key)) for key, check in _SERVICE_FIELDS.items()}
    values.pop("roles")
    values.pop("autoredeploy")
    values["name"] = values["name"] or definition["name"]
    values["target_num_containers"] = _default(values["target_num_containers"], 1)
    values["image_name"] = definition.pop("image_name")
    definition.pop("name")
    values["definition"] = definition
    return values


def validate_update(current: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The values of a service after a PATCH: `current` (the body the service was made from,
    as `service_body` gives it) with `body`'s fields replaced, validated as a whole, so an
    update is refused or applied whole, like a create.

    Raises:
        InvalidInputError: as `validate_service`.
    """
    checks.document(body)
    if not isinstance(body, dict) or not body:
        raise InvalidInputError("body", "must be an object with the fields to change")
    return validate_service({**current, **body})


def service_body(values: dict[str, Any]) -> dict[str, Any]:
    """The create body that gives these stored values again (for updates and stack exports)."""
    body = {key: value for key, value in values.items() if key in _SERVICE_FIELDS}
    body["image"] = values["image_name"]
    body.update(values["definition"])
    return body


def _default(value: int | None, default: int) -> int:
    return default if value is None else value
