"""The test-only shim that lets python-tutum 0.21.2 and python-dockercloud 1.0.12 run on Python 3.

Both SDKs were written for Python 2. Their logic is used unmodified; this module only replaces two
library calls at the edge, each for a documented reason (/work/shared/tutum-api.md), and, for the
tests of `Container.execute()` alone, lends Python 2's name to a third:

1. `urljoin` given bytes (§2.3). Both `send_request`s call
   `urljoin(base, path.strip("/").encode("ascii", "ignore"))`; on Python 2 that was a str, on
   Python 3 it is bytes and `urllib.parse.urljoin` refuses to mix str and bytes (TypeError before
   any request is sent). The replacement decodes the bytes back and joins exactly as before.
2. The websocket ping timeout (§6.4), python-tutum only. It always calls
   `WebSocketApp.run_forever(ping_interval=5, ping_timeout=5)`, which websocket-client >= 0.4x
   refuses ("Ensure ping_interval > ping_timeout") before connecting; python-tutum's own pin,
   websocket-client 0.32, accepted it. The replacement lowers the timeout just below the interval
   when the two are equal or inverted, and passes everything else through; python-dockercloud's
   10/5 is never touched (test_sdk_streams.py drives both SDKs' websockets through it).
3. `urllib.quote_plus` (§2.4 item 6), for `allow_execute` only. Both SDKs' `Exec` quote the
   command with `urllib.quote_plus`, which Python 3 moved to `urllib.parse.quote_plus`: without
   it `Container.execute()` raises AttributeError before any request (test_sdk_exec.py checks
   that too). `allow_execute` sets the old name to the same function, for one test.

Everything is applied with pytest's `monkeypatch` (see `install`), so it is undone after each test
and the SDK modules stay importable and unpatched outside the conformance suite.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
import websocket


def urljoin_accepting_bytes(base: str, url: str | bytes, allow_fragments: bool = True) -> str:
    """`urllib.parse.urljoin`, with a bytes `url` decoded as the SDKs meant it (ASCII)."""
    if isinstance(url, bytes):
        url = url.decode("ascii")
    return urllib.parse.urljoin(base, url, allow_fragments)


def clamp_ping_timeout(run_forever: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap `WebSocketApp.run_forever` so that ping_timeout < ping_interval always holds."""

    @functools.wraps(run_forever)
    def wrapper(self: websocket.WebSocketApp, *args: Any, **kwargs: Any) -> Any:
        interval = kwargs.get("ping_interval") or 0
        timeout = kwargs.get("ping_timeout")
        if interval and timeout and timeout >= interval:
            kwargs["ping_timeout"] = max(interval - 1, interval / 2)
        return run_forever(self, *args, **kwargs)

    wrapper.__sdk_shim__ = True  # type: ignore[attr-defined]
    return wrapper


def allow_execute(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give the `urllib` package the Python 2 name `quote_plus` for the current test (item 3)."""
    import urllib

    monkeypatch.setattr(urllib, "quote_plus", urllib.parse.quote_plus, raising=False)


def install(monkeypatch: pytest.MonkeyPatch, sdk: ModuleType) -> None:
    """Apply the shim for one SDK module (`tutum` or `dockercloud`) for the current test."""
    monkeypatch.setattr(sdk.api.http, "urljoin", urljoin_accepting_bytes)
    if sdk.__name__ == "tutum" and not getattr(
        websocket.WebSocketApp.run_forever, "__sdk_shim__", False
    ):
        monkeypatch.setattr(
            websocket.WebSocketApp,
            "run_forever",
            clamp_ping_timeout(websocket.WebSocketApp.run_forever),
        )
