"""The docker-py client the driver talks through, with kept-alive connections to the Engine's
unix socket.

It owns how the client connects, nothing of what it asks: it must not import the rest of this
package, `controlplane` or the agent's other modules.
"""

from __future__ import annotations

from typing import Any

import docker
from docker.transport import UnixHTTPAdapter


def open_client(base_url: str, *, timeout: int, pool_size: int) -> docker.DockerClient:
    """A docker-py client of the Engine at `base_url` holding up to `pool_size` connections
    (on a unix socket, one pool of them kept alive for every request)."""
    client = docker.DockerClient(base_url=base_url, timeout=timeout, max_pool_size=pool_size)
    _pool_by_socket(client.api, timeout=timeout, pool_size=pool_size)
    return client


class _SocketPoolAdapter(UnixHTTPAdapter):
    """docker-py's unix socket adapter with one connection pool for the socket.

    docker-py keys the adapter's pools by the whole request URL (up to 25, least recently used
    closed first), so every request about a container it has not just used (the inspect, start,
    stop and removal of each new container) opens a new connection to the Engine and sooner or
    later closes a pool. On a unix socket every URL reaches the same Engine, so one pool serves
    them all and its connections are kept alive.
    """

    def get_connection(self, url: str, proxies: dict[str, str] | None = None) -> Any:
        return super().get_connection("http+docker://localhost", proxies)


def _pool_by_socket(api: docker.APIClient, *, timeout: int, pool_size: int) -> None:
    """Give a client of a unix socket one pooled connection set, and stop it reading proxy
    and netrc settings from the environment for every request: they mean nothing on a socket
    (docker-py ignores the proxies there anyway) and cost about a third of the client's CPU
    per call."""
    adapter = api.adapters.get("http+docker://")
    if not isinstance(adapter, UnixHTTPAdapter):  # tcp://, ssh://: pooled by host already
        return
    pooled = _SocketPoolAdapter(
        "http+unix://" + adapter.socket_path, timeout, max_pool_size=pool_size
    )
    api.mount("http+docker://", pooled)
    api._custom_adapter = pooled  # what docker-py falls back on for the socket's scheme
    api.trust_env = False
    adapter.close()
