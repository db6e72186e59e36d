"""The harness itself: why each part of `sdk_shim` exists, and that it does what it says.

No control plane is involved here; if a newer websocket-client or `future` makes a shim
unnecessary, the first test of its pair fails and says so.
"""

from __future__ import annotations

from types import ModuleType

import pytest
import websocket

from tests.conformance import sdk_shim
from tests.support.processes import free_port
from tests.support.streams import tolerating_socket_leaks

pytestmark = [pytest.mark.conformance]


@pytest.mark.parametrize("module_name", ["tutum", "dockercloud"])
def test_unshimmed_sdks_cannot_join_their_urls_on_python3(
    module_name: str, request: pytest.FixtureRequest
) -> None:
    module: ModuleType = request.getfixturevalue(f"{module_name}_module")
    # What both send_request()s do with a path: strip, encode to bytes, join to a str base.
    path = "/container/".strip("/").encode("ascii", "ignore")

    with pytest.raises(TypeError):
        module.api.http.urljoin("http://127.0.0.1:1/api/v1/", path)
    assert sdk_shim.urljoin_accepting_bytes("http://127.0.0.1:1/api/v1/", path) == (
        "http://127.0.0.1:1/api/v1/container"
    )


def test_websocket_client_refuses_python_tutums_ping_settings() -> None:
    app = websocket.WebSocketApp(f"ws://127.0.0.1:{free_port()}/v1/events")

    with pytest.raises(websocket.WebSocketException, match="ping_interval > ping_timeout"):
        app.run_forever(ping_interval=5, ping_timeout=5)  # python-tutum's fixed values


def test_clamped_python_tutum_stream_reaches_the_network(
    tutum_module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the shim, python-tutum's own StreamingLog gets as far as connecting (here to a closed
    loopback port, so the error handler is told the connection was refused)."""
    sdk_shim.install(monkeypatch, tutum_module)
    monkeypatch.setattr(tutum_module, "stream_url", f"ws://127.0.0.1:{free_port()}/v1/")
    errors: list[Exception] = []
    stream = tutum_module.api.base.StreamingLog("container", "some-uuid", None, False)
    stream.on_error(errors.append)

    # The refused connect's socket is kept alive by the error's traceback until it is cleared.
    with tolerating_socket_leaks():
        stream.run_forever()
        kinds = [type(error) for error in errors]
        errors.clear()

    assert stream.url.endswith("/v1/container/some-uuid/logs/?follow=false")
    assert kinds == [ConnectionRefusedError]


def test_clamp_leaves_valid_ping_settings_alone() -> None:
    seen: dict[str, object] = {}

    def run_forever(_self: object, **kwargs: object) -> None:
        seen.update(kwargs)

    clamped = sdk_shim.clamp_ping_timeout(run_forever)
    clamped(None, ping_interval=10, ping_timeout=5)  # python-dockercloud's values
    assert seen == {"ping_interval": 10, "ping_timeout": 5}
    clamped(None, ping_interval=5, ping_timeout=5)  # python-tutum's
    assert seen == {"ping_interval": 5, "ping_timeout": 4}
