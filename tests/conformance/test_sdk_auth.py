"""Every Authorization form the SDKs can send is accepted; bad credentials are the SDK's auth error.

A request authenticated as alice is recognised by what it can see: the container alice made
(through plain HTTP) fetches, which it would not for anyone else (404).
"""

from __future__ import annotations

import pytest

from tests.conformance.sdk import Sdk, basic
from tests.support.api import ApiClient
from tests.support.plane import Plane

pytestmark = [pytest.mark.integration, pytest.mark.conformance]


def _alices_container(alice: ApiClient) -> str:
    return str(alice.create(name="auth-probe")["uuid"])


def test_basic_auth_is_accepted(sdk: Sdk, plane: Plane, alice: ApiClient) -> None:
    uuid = _alices_container(alice)
    sdk.authenticate(basic_auth=basic("alice", plane.keys["alice"]))

    fetched = sdk.Container.fetch(uuid)

    assert (fetched.uuid, fetched.name) == (uuid, "auth-probe")


@pytest.mark.parametrize("scheme", ["ApiKey", "Apikey", "Basic"])
def test_verbatim_header_is_accepted(sdk: Sdk, plane: Plane, alice: ApiClient, scheme: str) -> None:
    """`tutum_auth` / `dockercloud_auth` go out as the whole header value: the API-role tokens of
    the old services, and the `ApiKey` (seed era) and `Apikey` (python-tutum 0.20.2) forms."""
    uuid = _alices_container(alice)
    pair = f"alice:{plane.keys['alice']}"
    value = (
        f"Basic {basic('alice', plane.keys['alice'])}" if scheme == "Basic" else f"{scheme} {pair}"
    )
    sdk.authenticate(verbatim=value)

    assert sdk.Container.fetch(uuid).uuid == uuid


def test_verbatim_header_wins_over_basic_auth(sdk: Sdk, plane: Plane, alice: ApiClient) -> None:
    uuid = _alices_container(alice)
    sdk.authenticate(
        basic_auth=basic("alice", "not-the-key"), verbatim=f"ApiKey alice:{plane.keys['alice']}"
    )

    assert sdk.Container.fetch(uuid).uuid == uuid


@pytest.mark.parametrize(
    "credentials",
    [
        {"basic_auth": "wrong-key"},
        {"basic_auth": "unknown-user"},
        {"verbatim": "ApiKey alice:wrong-key"},
        {"verbatim": "Basic wrong-key"},
        {"verbatim": "Bearer alice"},
        {},  # nothing configured: the SDK sends no Authorization header at all
    ],
    ids=[
        "basic-wrong-key",
        "basic-unknown-user",
        "apikey-wrong-key",
        "verbatim-basic-wrong-key",
        "unknown-scheme",
        "none",
    ],
)
def test_bad_credentials_raise_the_sdk_auth_error(
    sdk: Sdk, plane: Plane, credentials: dict[str, str]
) -> None:
    resolved = dict(credentials)
    if resolved.get("basic_auth") == "wrong-key":
        resolved["basic_auth"] = basic("alice", "wrong-key")
    elif resolved.get("basic_auth") == "unknown-user":
        resolved["basic_auth"] = basic("nobody", plane.keys["alice"])
    elif resolved.get("verbatim") == "Basic wrong-key":
        resolved["verbatim"] = f"Basic {basic('alice', 'wrong-key')}"
    sdk.authenticate(**resolved)

    with pytest.raises(sdk.auth_error, match="Not authorized"):
        sdk.Container.list()
    with pytest.raises(sdk.auth_error):
        sdk.Node.list()


def test_another_users_container_is_not_found(sdk: Sdk, plane: Plane, alice: ApiClient) -> None:
    uuid = _alices_container(alice)
    sdk.authenticate(basic_auth=basic("bob", plane.keys["bob"]))

    with pytest.raises(sdk.api_error, match="Status 404") as raised:
        sdk.Container.fetch(uuid)

    assert not isinstance(raised.value, sdk.auth_error)
    assert uuid not in {c.uuid for c in sdk.Container.list()}


def test_verify_credential_checks_a_user_and_key(sdk: Sdk, plane: Plane) -> None:
    """`tutum.auth.verify_credential` (GET /api/v1/auth/) and `dockercloud.auth.verify_credential`
    (GET /auth/ at the host root) send the pair with requests' own Basic auth."""
    sdk.authenticate()  # the check must not depend on configured credentials

    assert sdk.module.auth.verify_credential("alice", plane.keys["alice"]) is None
    with pytest.raises(sdk.auth_error):
        sdk.module.auth.verify_credential("alice", "wrong-key")
    with pytest.raises(sdk.auth_error):
        sdk.module.auth.verify_credential("bob", plane.keys["alice"])
