"""The `services` of a stack create or update body, read into validated service values.

The old clients send a stack's services in one of two shapes, and both are read:

- the stackfile's (what `tutum stack up -f` and `docker-cloud stack up -f` send: the YAML file
  loaded and each service's options given a `name`): `image`, `command`, `environment`, `ports`,
  `links` ... read by `controlplane.core.stackfile`, whose errors name the service and the key;
- the service API's (what the SDKs' `Stack.create(services=[...])` and the API reference send):
  `image`, `run_command`, `container_envvars`, `linked_to_service` with `to_service` a service
  name of the stack ...

A list is in the service API's shape when any item has a key only that shape has; one list never
mixes the two. Pure: the core and the stackfile reader only.
"""

from __future__ import annotations

from typing import Any

from controlplane.core import checks
from controlplane.core.errors import InvalidInputError
from controlplane.core.service_validation import FIELDS, validate_service
from controlplane.core.stackfile import parse_services
from controlplane.core.stackfile_keys import KEYS
from controlplane.core.stackfile_yaml import MAX_SERVICES

# The service API's own keys: a list with any of them is in that shape.
SERVICE_ONLY_KEYS = FIELDS - KEYS - {"name"}


def service_values(items: Any) -> list[tuple[str, dict[str, Any]]]:
    """(service name, validated values) of each service, in the order given.

    Raises:
        InvalidInputError: the list, a name, or a service's field (`services.web.ports[1]`).
    """
    named = _named(items)
    if any(set(body) & SERVICE_ONLY_KEYS for body in named.values()):
        return [(name, _service_api(name, body)) for name, body in named.items()]
    try:
        parsed = parse_services(named, validate_service)
    except InvalidInputError as exc:
        raise exc.under("services") from exc
    return [(service.name, service.values) for service in parsed]


def _named(items: Any) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = {}
    listed = checks.items("services", [] if items is None else items, "a list of service objects")
    if len(listed) > MAX_SERVICES:
        raise InvalidInputError("services", f"at most {MAX_SERVICES} services")
    for where, item in listed:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidInputError(where, "must be an object with the service's name")
        name = item["name"]
        if name in services:
            raise InvalidInputError(f"{where}.name", f"a second service named {name!r}")
        services[name] = {key: value for key, value in item.items() if key != "name"}
    return services


def _service_api(name: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        return validate_service({**body, "name": name})
    except InvalidInputError as exc:
        raise exc.under(f"services.{name}") from exc
