"""The variables a link gives and the names it uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controlplane.core.links import env_prefix, link_variables, linked_definition, network_name


@dataclass(frozen=True)
class Linked:
    unique_name: str
    definition: dict[str, Any] = field(default_factory=dict)


def test_a_link_gives_dockers_legacy_variables_under_its_alias() -> None:
    ports = [
        {"inner_port": 5432, "protocol": "tcp", "outer_port": None, "published": False},
        {"inner_port": 53, "protocol": "udp", "outer_port": None, "published": False},
    ]
    variables = link_variables("my-db", "db", ports, [{"key": "USER", "value": "app"}])
    assert {v["key"]: v["value"] for v in variables} == {
        "MY_DB_PORT": "tcp://db:5432",
        "MY_DB_PORT_5432_TCP": "tcp://db:5432",
        "MY_DB_PORT_5432_TCP_ADDR": "db",
        "MY_DB_PORT_5432_TCP_PORT": "5432",
        "MY_DB_PORT_5432_TCP_PROTO": "tcp",
        "MY_DB_PORT_53_UDP": "udp://db:53",
        "MY_DB_PORT_53_UDP_ADDR": "db",
        "MY_DB_PORT_53_UDP_PORT": "53",
        "MY_DB_PORT_53_UDP_PROTO": "udp",
        "MY_DB_ENV_USER": "app",
    }


def test_a_link_to_a_service_without_ports_gives_only_its_variables() -> None:
    assert link_variables("cache", "redis-2", [], []) == []
    assert env_prefix("a.b-c") == "A_B_C"


def test_each_owner_has_a_network_of_its_own() -> None:
    assert network_name(1) != network_name(2)


def test_a_bridged_definition_joins_the_owner_s_network_with_the_links_variables_first() -> None:
    db = Linked("db-2", {"container_envvars": [{"key": "USER", "value": "app"}]})
    own = [{"key": "DB_ENV_USER", "value": "mine"}]
    definition = linked_definition(
        {"net": "bridge", "container_envvars": own},
        owner_id=7,
        aliases=["web", "web-1"],
        linked=[("db", db)],
    )
    assert definition["network"] == network_name(7)
    assert definition["network_aliases"] == ["web", "web-1"]
    assert definition["container_envvars"] == [{"key": "DB_ENV_USER", "value": "app"}, *own]


def test_a_definition_off_the_bridge_joins_no_network() -> None:
    definition = linked_definition({"net": "host"}, owner_id=7, aliases=["web"], linked=[])
    assert (definition["network"], definition["network_aliases"]) == ("", [])
    assert definition["container_envvars"] == []
