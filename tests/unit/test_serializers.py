"""The wire shapes of containers, actions, nodes and list pages, built from in-memory models."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from controlplane.api.serializers import (
    action_to_json,
    container_to_json,
    format_date,
    node_to_json,
    page_to_json,
)
from controlplane.api.trees import TUTUM, Links
from controlplane.core.lifecycle import TRANSITIONAL_STATES, State
from controlplane.db.models import ActionRecord, Container, Node, User

NODE_UUID = "6f1c8f8e-2b8e-4c59-9a57-5d2f3c1e0a01"
CONTAINER_UUID = "0b6e3f2a-1c4d-4e5f-8a9b-0c1d2e3f4a5b"
ACTION_UUID = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
WHEN = datetime(2014, 10, 16, 12, 4, 8)
WHEN_TEXT = "Thu, 16 Oct 2014 12:04:08 +0000"

CONTAINER_KEYS = {
    "uuid",
    "resource_uri",
    "image_name",
    "image_tag",
    "name",
    "unique_name",
    "state",
    "synchronized",
    "node",
    "service",
    "public_dns",
    "private_ip",
    "exit_code",
    "exit_code_msg",
    "paused",
    "deployed_datetime",
    "started_datetime",
    "stopped_datetime",
    "destroyed_datetime",
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
    "autorestart",
    "autodestroy",
    "container_ports",
    "bindings",
    "roles",
    "linked_to_container",
    "link_variables",
}
ACTION_KEYS = {
    "uuid",
    "resource_uri",
    "object",
    "action",
    "method",
    "path",
    "user_agent",
    "ip",
    "location",
    "body",
    "state",
    "reason",
    "user",
    "start_date",
    "end_date",
    "is_user_action",
    "can_be_canceled",
    "can_be_retried",
}
NODE_KEYS = {
    "uuid",
    "resource_uri",
    "nickname",
    "external_fqdn",
    "state",
    "docker_version",
    "cpu",
    "memory",
    "disk",
    "current_num_containers",
    "last_seen",
    "deployed_datetime",
    "destroyed_datetime",
    "tags",
    "node_cluster",
    "node_type",
    "region",
    "availability_zone",
}
# tutum-api.md §3.3: keys that break the SDK objects they are loaded into.
FORBIDDEN_KEYS = {
    "logs",
    "pk",
    "is_dirty",
    "start",
    "stop",
    "redeploy",
    "delete",
    "save",
    "refresh",
    "fetch",
    "list",
    "cancel",
    "retry",
    "execute",
    "tutum_action_uri",
    "dockercloud_action_uri",
}

TUTUM_LINKS = Links(TUTUM)
LIST_OPTIONS = (
    "container_ports",
    "bound_ports",
    "bindings",
    "dns",
    "dns_search",
    "extra_hosts",
    "cap_add",
    "cap_drop",
    "devices",
    "security_opt",
)


def make_node(state: str = "Deployed", tags: list[str] | None = None) -> Node:
    return Node(
        uuid=NODE_UUID,
        name="node-1",
        state=state,
        tags=tags or [],
        docker_version="27.0.0",
        cpu=4,
        memory_mb=8192,
        observed_ns=1,
        deployed_datetime=WHEN,
        last_seen=WHEN,
    )


def make_container(state: State = State.RUNNING, **fields: Any) -> Container:
    values: dict[str, Any] = {
        "uuid": CONTAINER_UUID,
        "name": "web",
        "unique_name": "web-0b6e3f2a",
        "image_name": "busybox:latest",
        "state": state.value,
        "run_command": "sleep 60",
        "entrypoint": "",
        "working_dir": "",
        "container_envvars": [{"key": "A", "value": "1"}],
        "labels": {"team": "core"},
        "memory": 64,
        "cpu_shares": 512,
        "autorestart": "OFF",
        "created_at": WHEN,
        "node": make_node(),
        # In-memory models get no column defaults; these are the migrated database's.
        **{name: [] for name in LIST_OPTIONS},
        **{name: "" for name in ("cpuset", "user", "hostname", "domainname", "mac_address")},
        **{name: False for name in ("tty", "stdin_open", "read_only", "privileged")},
        "net": "bridge",
        "pid": "none",
        "autodestroy": "OFF",
    }
    values.update(fields)
    return Container(**values)


def make_action(**fields: Any) -> ActionRecord:
    values: dict[str, Any] = {
        "uuid": ACTION_UUID,
        "name": "Container Start",
        "operation": "start",
        "rollback_state": "Init",
        "method": "POST",
        "path": f"/api/v1/container/{CONTAINER_UUID}/start/",
        "user_agent": "python-tutum/v0.21.2",
        "ip": "127.0.0.1",
        "body": "",
        "state": "Success",
        "reason": None,
        "start_date": WHEN,
        "end_date": WHEN,
        "container": make_container(),
        "owner": User(username="alice"),
    }
    values.update(fields)
    return ActionRecord(**values)


def assert_no_forbidden_keys(obj: dict[str, Any]) -> None:
    assert not set(obj) & FORBIDDEN_KEYS
    assert not [key for key in obj if key.startswith("_")]


def test_a_container_has_exactly_the_documented_fields() -> None:
    assert set(container_to_json(make_container(), TUTUM_LINKS)) == CONTAINER_KEYS


def test_an_action_has_exactly_the_documented_fields() -> None:
    assert set(action_to_json(make_action(), TUTUM_LINKS)) == ACTION_KEYS


def test_a_node_has_exactly_the_documented_fields() -> None:
    assert set(node_to_json(make_node(), TUTUM_LINKS, live_containers=0)) == NODE_KEYS


@pytest.mark.parametrize(
    "obj",
    [
        container_to_json(make_container(), TUTUM_LINKS),
        action_to_json(make_action(), TUTUM_LINKS),
        node_to_json(make_node(), TUTUM_LINKS, live_containers=3),
    ],
    ids=["container", "action", "node"],
)
def test_no_object_carries_a_key_that_shadows_an_sdk_method(obj: dict[str, Any]) -> None:
    assert_no_forbidden_keys(obj)


def test_a_container_names_itself_and_its_node_by_root_relative_uris() -> None:
    data = container_to_json(make_container(), TUTUM_LINKS)
    assert data["uuid"] == CONTAINER_UUID
    assert data["resource_uri"] == f"/api/v1/container/{CONTAINER_UUID}/"
    assert data["node"] == f"/api/v1/node/{NODE_UUID}/"


def test_a_container_carries_its_configuration() -> None:
    data = container_to_json(make_container(), TUTUM_LINKS)
    assert data["image_name"] == "busybox:latest"
    assert data["name"] == "web"
    assert data["unique_name"] == "web-0b6e3f2a"
    assert data["run_command"] == "sleep 60"
    assert data["container_envvars"] == [{"key": "A", "value": "1"}]
    assert data["labels"] == {"team": "core"}
    assert (data["memory"], data["cpu_shares"], data["autorestart"]) == (64, 512, "OFF")


def test_a_container_returns_its_options_as_stored() -> None:
    bindings = [{"host_path": None, "container_path": "/d", "rewritable": True, "volume": "data"}]
    data = container_to_json(
        make_container(
            bindings=bindings, net="host", cap_add=["NET_ADMIN"], tty=True, autodestroy="ALWAYS"
        ),
        TUTUM_LINKS,
    )
    assert data["bindings"] == bindings
    assert (data["net"], data["pid"], data["cap_add"]) == ("host", "none", ["NET_ADMIN"])
    assert (data["tty"], data["privileged"]) == (True, False)
    assert data["autodestroy"] == "ALWAYS"


PORTS = [
    {"protocol": "tcp", "inner_port": 80, "outer_port": None, "published": True},
    {"protocol": "udp", "inner_port": 53, "outer_port": 5353, "published": True},
    {"protocol": "tcp", "inner_port": 9000, "outer_port": None, "published": False},
]


def ports_of(container: Container) -> dict[int, dict[str, Any]]:
    return {
        p["inner_port"]: p for p in container_to_json(container, TUTUM_LINKS)["container_ports"]
    }


def test_ports_of_a_container_that_does_not_run_show_what_was_asked() -> None:
    ports = ports_of(make_container(State.STOPPED, container_ports=PORTS))
    assert ports[80] == {
        "protocol": "tcp",
        "inner_port": 80,
        "outer_port": None,
        "published": True,
        "port_name": "",
        "uri_protocol": "tcp",
        "endpoint_uri": None,
    }
    assert ports[53]["outer_port"] == 5353
    assert ports[53]["endpoint_uri"] is None
    assert ports[9000]["published"] is False


def test_ports_of_a_running_container_show_the_bound_host_port_and_endpoint() -> None:
    bound = [
        {"protocol": "tcp", "inner_port": 80, "host_ip": "127.0.0.1", "outer_port": 49153},
        {"protocol": "udp", "inner_port": 53, "host_ip": "127.0.0.1", "outer_port": 5353},
    ]
    ports = ports_of(make_container(container_ports=PORTS, bound_ports=bound))
    assert ports[80]["outer_port"] == 49153
    assert ports[80]["endpoint_uri"] == "tcp://127.0.0.1:49153/"
    assert ports[53]["endpoint_uri"] == "udp://127.0.0.1:5353/"
    assert ports[9000]["outer_port"] is None and ports[9000]["endpoint_uri"] is None


@pytest.mark.parametrize(
    ("host_ip", "endpoint"),
    [
        ("0.0.0.0", "tcp://node-1:49153/"),
        ("::", "tcp://node-1:49153/"),
        ("", "tcp://node-1:49153/"),
        ("10.0.0.7", "tcp://10.0.0.7:49153/"),
        ("::1", "tcp://[::1]:49153/"),
    ],
)
def test_a_port_bound_on_every_address_is_reached_by_the_node_name(
    host_ip: str, endpoint: str
) -> None:
    bound = [{"protocol": "tcp", "inner_port": 80, "host_ip": host_ip, "outer_port": 49153}]
    ports = ports_of(make_container(container_ports=PORTS[:1], bound_ports=bound))
    assert ports[80]["endpoint_uri"] == endpoint


def test_a_container_is_reached_at_its_nodes_name_as_the_clis_print_its_ports() -> None:
    """`tutum container ps` and `docker-cloud container ps` print each published port as
    `<public_dns>:<outer_port>-><inner_port>/<protocol>`; a null public_dns printed `None:`."""
    bound = [{"protocol": "tcp", "inner_port": 80, "host_ip": "127.0.0.1", "outer_port": 32769}]
    body = container_to_json(
        make_container(container_ports=PORTS[:1], bound_ports=bound), TUTUM_LINKS
    )
    assert body["public_dns"] == "node-1"
    [port] = body["container_ports"]
    printed = "%s:%d->%d/%s" % (  # noqa: UP031 - the CLIs' own format string
        body["public_dns"],
        port["outer_port"],
        port["inner_port"],
        port["protocol"],
    )
    assert printed == "node-1:32769->80/tcp"
    # The same name whatever the state: it names the node, not a port that is bound now.
    assert container_to_json(make_container(State.STOPPED), TUTUM_LINKS)["public_dns"] == "node-1"
    assert node_to_json(make_node(), TUTUM_LINKS, live_containers=0)["external_fqdn"] == "node-1"


@pytest.mark.parametrize("state", list(State), ids=str)
def test_a_container_is_synchronized_only_in_a_stable_state(state: State) -> None:
    data = container_to_json(make_container(state), TUTUM_LINKS)
    assert data["state"] == state.value
    assert data["synchronized"] is (state not in TRANSITIONAL_STATES)


@pytest.mark.parametrize("state", [State.RUNNING, State.STOPPED], ids=str)
def test_a_container_on_an_unreachable_node_keeps_its_state_but_is_not_synchronized(
    state: State,
) -> None:
    data = container_to_json(make_container(state, node=make_node("Unreachable")), TUTUM_LINKS)
    assert (data["state"], data["synchronized"]) == (state.value, False)


def test_a_node_shows_its_tags_as_name_objects() -> None:
    data = node_to_json(make_node(tags=["eu", "ssd"]), TUTUM_LINKS, live_containers=0)
    assert data["tags"] == [{"name": "eu"}, {"name": "ssd"}]


def test_container_dates_are_rfc2822_utc_and_unset_ones_are_null() -> None:
    data = container_to_json(make_container(started_datetime=WHEN), TUTUM_LINKS)
    assert data["started_datetime"] == WHEN_TEXT
    assert data["deployed_datetime"] is None
    assert data["stopped_datetime"] is None
    assert data["destroyed_datetime"] is None


@pytest.mark.parametrize(
    ("exit_code", "message"),
    [(None, None), (0, "Exit code 0 (Success)"), (137, "Exit code 137 (Failure)")],
)
def test_the_exit_code_message_follows_the_exit_code(exit_code: int | None, message: str) -> None:
    data = container_to_json(make_container(State.STOPPED, exit_code=exit_code), TUTUM_LINKS)
    assert data["exit_code"] == exit_code
    assert data["exit_code_msg"] == message


def test_an_action_points_at_its_container() -> None:
    data = action_to_json(
        make_action(state="Failed", reason="image missing", end_date=None), TUTUM_LINKS
    )
    assert data["resource_uri"] == f"/api/v1/action/{ACTION_UUID}/"
    assert data["object"] == f"/api/v1/container/{CONTAINER_UUID}/"
    assert data["action"] == "Container Start"
    assert (data["state"], data["reason"]) == ("Failed", "image missing")
    assert data["start_date"] == WHEN_TEXT
    assert data["end_date"] is None


def test_a_node_reports_its_facts_and_live_container_count() -> None:
    data = node_to_json(make_node(), TUTUM_LINKS, live_containers=3)
    assert data["resource_uri"] == f"/api/v1/node/{NODE_UUID}/"
    assert data["current_num_containers"] == 3
    assert (data["cpu"], data["memory"], data["docker_version"]) == (4, 8192, "27.0.0")
    assert data["last_seen"] == WHEN_TEXT


# --- dates -----------------------------------------------------------------------------------


def test_a_date_is_formatted_the_way_the_tutum_cli_parses_it() -> None:
    assert format_date(WHEN) == WHEN_TEXT
    assert datetime.strptime(WHEN_TEXT, "%a, %d %b %Y %H:%M:%S +0000") == WHEN


def test_a_missing_date_stays_null() -> None:
    assert format_date(None) is None


def test_a_single_digit_day_is_zero_padded_and_midnight_is_kept() -> None:
    assert format_date(datetime(2014, 10, 1, 0, 0, 0)) == "Wed, 01 Oct 2014 00:00:00 +0000"


# --- list pages ------------------------------------------------------------------------------


def query_of(link: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(link).query)


def page(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "path": "/api/v1/container/",
        "query": {},
        "limit": 25,
        "offset": 0,
        "total": 0,
    }
    arguments.update(overrides)
    return page_to_json([{"uuid": "x"}], **arguments)


def test_a_page_echoes_the_applied_limit_and_offset() -> None:
    meta = page(limit=7, offset=14, total=30)["meta"]
    assert (meta["limit"], meta["offset"], meta["total_count"]) == (7, 14, 30)


def test_a_page_keeps_its_objects() -> None:
    assert page()["objects"] == [{"uuid": "x"}]


@pytest.mark.parametrize(("offset", "total"), [(0, 0), (0, 25), (25, 50), (28, 30)])
def test_the_last_page_has_no_next_link(offset: int, total: int) -> None:
    assert page(offset=offset, total=total)["meta"]["next"] is None


def test_the_next_link_is_root_relative_and_carries_limit_offset_and_filters() -> None:
    meta = page(query={"state": "Running", "name": "web"}, limit=7, offset=7, total=30)["meta"]
    link = meta["next"]
    assert link.startswith("/api/v1/container/?")
    assert query_of(link) == {
        "state": ["Running"],
        "name": ["web"],
        "limit": ["7"],
        "offset": ["14"],
    }


def test_filters_are_url_encoded_in_links() -> None:
    node_uri = f"/api/v1/node/{NODE_UUID}/"
    link = page(query={"node": node_uri, "state": "In progress"}, total=100)["meta"]["next"]
    assert " " not in link
    assert query_of(link)["node"] == [node_uri]
    assert query_of(link)["state"] == ["In progress"]


def test_the_first_page_has_no_previous_link() -> None:
    assert page(total=100)["meta"]["previous"] is None


def test_the_previous_link_steps_back_one_page_but_not_below_zero() -> None:
    assert query_of(page(limit=7, offset=14, total=30)["meta"]["previous"])["offset"] == ["7"]
    assert query_of(page(limit=7, offset=3, total=30)["meta"]["previous"])["offset"] == ["0"]
