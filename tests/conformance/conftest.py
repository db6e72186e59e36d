"""Conformance fixtures: the real python-tutum 0.21.2 and python-dockercloud 1.0.12, unmodified,
pointed at the session's plane (tests/conftest.py).

How the SDKs are set up follows /work/shared/tutum-api.md:

- They are imported once, with HOME pointing at an empty directory and no TUTUM_* or
  DOCKERCLOUD_* variable in the environment (§2.4): at import python-tutum reads `~/.tutum` and
  python-dockercloud reads `~/.docker/config.json` (a `credsStore` there makes the import fail).
- They are configured programmatically, exactly as §2.3 shows: `tutum.base_url` (with its trailing
  slash) and `tutum.stream_url`; `dockercloud.rest_host` and `stream_host` (scheme, host and port
  only); credentials as `basic_auth` (base64 of `user:key`, sent as `Basic ...`) or verbatim as
  `tutum_auth` / `dockercloud_auth`. `user`/`apikey` are never used: on Python 3 they silently
  send no header (§2.4 item 1).
- Both keep their configuration in module attributes. Every test gets the SDK through the `sdk`
  (or `tutum_sdk` / `dockercloud_sdk`) fixture, which sets those attributes with `monkeypatch`, so
  they are restored after the test whatever it changed, and applies the shim (`sdk_shim`).

`sdk` is parametrized over both SDKs; `Sdk` hides only what differs between them by construction
(module names, exception classes, the action-URI attribute, the create path, the URL tree), so each
test states the contract once and runs against both clients; it is in tests/conformance/sdk.py,
where the tests import it from.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import uuid as uuid_lib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conformance import sdk_shim
from tests.conformance.sdk import Sdk, basic
from tests.support.locations import BIN
from tests.support.plane import Plane

# Read by both SDKs' get_auth_header() if present; on Python 3 they break it (tutum-api.md §2.4).
_LEGACY_CREDENTIALS = ("user", "apikey", "password")


def _import_without_user_config(name: str, home: Path) -> Any:
    """Import an SDK the way a fresh machine would: empty HOME, no SDK variables set."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        for variable in list(os.environ):
            if variable.startswith(("TUTUM_", "DOCKERCLOUD_")):
                patch.delenv(variable)
        module = importlib.import_module(name)
    return module


@pytest.fixture(scope="session")
def sdk_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sdk-home")


@pytest.fixture(scope="session")
def tutum_module(sdk_home: Path) -> Any:
    module = _import_without_user_config("tutum", sdk_home)
    assert module.__version__ == "0.21.2"
    # Nothing was picked up from a user's files or environment.
    assert (module.tutum_auth, module.basic_auth, module.apikey_auth) == (None, None, None)
    return module


@pytest.fixture(scope="session")
def dockercloud_module(sdk_home: Path) -> Any:
    module = _import_without_user_config("dockercloud", sdk_home)
    assert module.__version__ == "1.0.12"
    assert (module.dockercloud_auth, module.basic_auth, module.namespace) == (None, None, None)
    return module


def _configure(monkeypatch: pytest.MonkeyPatch, module: ModuleType, **settings: object) -> None:
    """Set an SDK's module-level configuration for one test, and shim it. Everything goes through
    monkeypatch, which restores the values of before the test (including whatever the test itself
    changes among these attributes, e.g. credentials or the namespace)."""
    for attr, value in settings.items():
        monkeypatch.setattr(module, attr, value)
    for attr in _LEGACY_CREDENTIALS:
        monkeypatch.delattr(module, attr, raising=False)
    sdk_shim.install(monkeypatch, module)


@pytest.fixture
def tutum_sdk(plane: Plane, tutum_module: Any, monkeypatch: pytest.MonkeyPatch) -> Sdk:
    """python-tutum, configured as alice on the Tutum tree (`/api/v1/`)."""
    _configure(
        monkeypatch,
        tutum_module,
        base_url=f"{plane.base_url}/api/v1/",  # the trailing slash is required (§2.3)
        stream_url=plane.base_url.replace("http://", "ws://") + "/v1/",
        basic_auth=None,
        tutum_auth=None,
        user_agent=None,
    )
    sdk = Sdk(
        name="tutum",
        module=tutum_module,
        api_error=tutum_module.TutumApiError,
        auth_error=tutum_module.TutumAuthError,
        verbatim_auth_attr="tutum_auth",
        action_uri_attr="tutum_action_uri",
        create_path="/container",
        container_collection="/api/v1/container/",
        action_collection="/api/v1/action/",
        node_collection="/api/v1/node/",
    )
    sdk.authenticate(basic_auth=basic("alice", plane.keys["alice"]))
    return sdk


@pytest.fixture
def dockercloud_sdk(
    plane: Plane, dockercloud_module: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Sdk]:
    """python-dockercloud, configured as alice on the Docker Cloud tree, no namespace."""
    _configure(
        monkeypatch,
        dockercloud_module,
        rest_host=plane.base_url,  # scheme://host:port only (§2.3)
        stream_host=plane.base_url.replace("http://", "ws://"),
        basic_auth=None,
        dockercloud_auth=None,
        namespace=None,
        user_agent=None,
        api_timeout=30,  # the SDK's own setting: a hung server fails the test instead of hanging
    )
    # The SDK keeps one keep-alive session per process; each test starts with its own.
    dockercloud_module.api.http.new_session()
    sdk = Sdk(
        name="dockercloud",
        module=dockercloud_module,
        api_error=dockercloud_module.ApiError,
        auth_error=dockercloud_module.AuthError,
        verbatim_auth_attr="dockercloud_auth",
        action_uri_attr="dockercloud_action_uri",
        create_path="api/app/v1/container",
        container_collection="/api/app/v1/container/",
        action_collection="/api/audit/v1/action/",
        node_collection="/api/infra/v1/node/",
    )
    sdk.authenticate(basic_auth=basic("alice", plane.keys["alice"]))
    yield sdk
    dockercloud_module.api.http.close_session()


@pytest.fixture(params=["tutum", "dockercloud"])
def sdk(request: pytest.FixtureRequest) -> Sdk:
    """Each test that asks for `sdk` runs once with python-tutum and once with
    python-dockercloud."""
    sdk: Sdk = request.getfixturevalue(f"{request.param}_sdk")
    return sdk


@pytest.fixture
def new_user(plane: Plane) -> Callable[[], tuple[str, str]]:
    """Make users of one's own, whose lists hold exactly what the test created."""

    def make() -> tuple[str, str]:
        username = f"conformance-{uuid_lib.uuid4().hex[:12]}"
        created = subprocess.run(
            [str(BIN / "controlplane"), "user", "create", username],
            env=plane.env,
            check=True,
            capture_output=True,
            text=True,
        )
        key = created.stdout.strip()
        plane.keys[username] = key
        return username, key

    return make
