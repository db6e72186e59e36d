"""`Container.list()` as the SDKs walk it: every page, filters re-sent on each page, `limit=N`.

The SDKs never send their `limit` argument; they follow `meta.next` with
`offset = meta.offset + meta.limit` until `next` is null (tutum-api.md §3.1). The plane's page
size is 25, so 30 containers take two pages. Each test uses a user of its own, so its lists hold
exactly what it made, in creation order.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conformance.sdk import Sdk, basic, uuid_from_uri
from tests.support.api import ApiClient
from tests.support.plane import Plane

pytestmark = [pytest.mark.integration, pytest.mark.conformance]

PAGE_SIZE = 25  # CONTROLPLANE_PAGE_SIZE of the session's plane
SERVER = 'sh -c "exec sleep 3600"'


@pytest.fixture
def own_user(sdk: Sdk, new_user: Callable[[], tuple[str, str]]) -> tuple[str, str]:
    username, key = new_user()
    sdk.authenticate(basic_auth=basic(username, key))
    return username, key


def test_list_walks_every_page_in_creation_order(
    sdk: Sdk, own_user: tuple[str, str], plane: Plane
) -> None:
    made = [sdk.create(name=f"paged-{i}")["uuid"] for i in range(PAGE_SIZE + 5)]
    first_page = ApiClient(plane.base_url, *own_user).request("GET", sdk.container_collection)
    assert first_page.json()["meta"]["next"] is not None  # there is more than one page

    listed = sdk.Container.list()

    assert [c.uuid for c in listed] == made
    assert all(c.resource_uri == f"{sdk.container_collection}{c.uuid}/" for c in listed)


def test_list_limit_stops_early_and_truncates(sdk: Sdk, own_user: tuple[str, str]) -> None:
    made = [sdk.create(name=f"limited-{i}")["uuid"] for i in range(PAGE_SIZE + 5)]

    assert [c.uuid for c in sdk.Container.list(limit=3)] == made[:3]
    assert [c.uuid for c in sdk.Container.list(limit=PAGE_SIZE + 2)] == made[: PAGE_SIZE + 2]
    assert [c.uuid for c in sdk.Container.list(limit=100)] == made


def test_list_filters_by_state_and_name(sdk: Sdk, own_user: tuple[str, str]) -> None:
    alpha = sdk.create(name="alpha", run_command=SERVER)["uuid"]
    beta = sdk.create(name="beta")["uuid"]
    alpha_again = sdk.create(name="alpha")["uuid"]
    running = sdk.Container.fetch(alpha)
    running.start()
    sdk.wait_state(running, "Running")

    def uuids(**filters: str) -> list[str]:
        return [c.uuid for c in sdk.Container.list(**filters)]

    assert uuids(state="Running") == [alpha]
    assert uuids(state="Init") == [beta, alpha_again]
    assert uuids(name="alpha") == [alpha, alpha_again]
    assert uuids(state="Init", name="alpha") == [alpha_again]
    assert uuids(name="gamma") == []
    assert uuids(uuid__startswith=beta[:8]) == [beta]
    # A filter goes with every page the SDK asks for, and `next` keeps it.
    assert [c.uuid for c in sdk.Container.list(state="Init", limit=1)] == [beta]


def test_filtered_list_walks_pages_with_the_filter(sdk: Sdk, own_user: tuple[str, str]) -> None:
    """The SDK re-sends the filter with `offset`/`limit` on each page; the server applies both."""
    wanted = []
    for i in range(PAGE_SIZE + 3):
        wanted.append(sdk.create(name="many")["uuid"])
        if i % 5 == 0:
            sdk.create(name="other")

    assert [c.uuid for c in sdk.Container.list(name="many")] == wanted


def test_dockercloud_namespace_is_the_users_own(
    dockercloud_sdk: Sdk, plane: Plane, alice: ApiClient
) -> None:
    """With `dockercloud.namespace` set, lists and fetches go to `/api/app/v1/<ns>/...`, and the
    resource URIs (which every follow-up call uses verbatim) keep the namespace."""
    sdk = dockercloud_sdk
    sdk.module.namespace = "alice"
    uuid = sdk.create(name="namespaced")["uuid"]

    container = sdk.Container.fetch(uuid)
    assert container.resource_uri == f"/api/app/v1/alice/container/{uuid}/"
    assert uuid in [c.uuid for c in sdk.Container.list(name="namespaced")]
    assert container.start() is True
    assert sdk.action_uri(container).startswith("/api/audit/v1/action/")
    sdk.wait_state(container, "Stopped")  # busybox's default sh exits at once without a tty
    [node] = [n for n in sdk.Node.list() if n.uuid == plane.node_uuid]
    assert node.resource_uri == f"/api/infra/v1/alice/node/{plane.node_uuid}/"
    assert container.node == node.resource_uri

    # Another user's namespace is not found, like anything else that is not the caller's.
    with pytest.raises(sdk.api_error, match="Status 404"):
        sdk.Container.list(namespace="bob")
    with pytest.raises(sdk.api_error, match="Status 404"):
        sdk.Container.fetch(uuid, namespace="bob")


def test_utils_find_a_container_by_uuid_short_uuid_or_name(
    sdk: Sdk, own_user: tuple[str, str]
) -> None:
    """`Utils.fetch_remote_container`, the CLI's way to resolve an identifier, built on the
    `uuid__startswith` and `name` filters."""
    utils = sdk.module.Utils
    uuid = sdk.create(name="findme")["uuid"]
    sdk.create(name="twin")
    sdk.create(name="twin")

    assert utils.fetch_remote_container(uuid).uuid == uuid
    assert utils.fetch_remote_container(uuid[:8]).uuid == uuid
    assert utils.fetch_remote_container("findme").uuid == uuid
    with pytest.raises(sdk.module.NonUniqueIdentifier):
        utils.fetch_remote_container("twin")
    with pytest.raises(sdk.module.ObjectNotFound):
        utils.fetch_remote_container("nothing-called-this")


def test_utils_find_an_action_by_uuid_or_short_uuid(sdk: Sdk) -> None:
    """`Utils.fetch_remote_action` (the CLIs' `action inspect`) resolves a short id with
    `Action.list(uuid__startswith=...)`: it must narrow to that action, or with more than one
    action listed the SDK refuses the id as ambiguous."""
    utils = sdk.module.Utils
    sdk.create(name="first")
    created = sdk.create(name="audited")
    action_uuid = uuid_from_uri(created[sdk.action_uri_attr])
    other_prefix = "0" * 8 if not action_uuid.startswith("0") else "f" * 8

    assert utils.fetch_remote_action(action_uuid).uuid == action_uuid
    assert utils.fetch_remote_action(action_uuid[:8]).uuid == action_uuid
    with pytest.raises(sdk.module.ObjectNotFound):
        utils.fetch_remote_action(other_prefix)


def test_utils_find_a_node_by_uuid_or_short_uuid(sdk: Sdk, plane: Plane) -> None:
    """`Utils.fetch_remote_node` resolves a short id with `Node.list(uuid__startswith=...)`."""
    utils = sdk.module.Utils
    node_uuid = plane.node_uuid
    other_prefix = "0" * 8 if not node_uuid.startswith("0") else "f" * 8

    assert utils.fetch_remote_node(node_uuid).uuid == node_uuid
    assert utils.fetch_remote_node(node_uuid[:8]).uuid == node_uuid
    with pytest.raises(sdk.module.ObjectNotFound):
        utils.fetch_remote_node(other_prefix)
