"""Agent settings, parsed once from CONTROLPLANE_AGENT_* variables.

There is deliberately no database setting: an agent only knows the broker and its Docker Engine.
The node's identity is its token (CONTROLPLANE_AGENT_TOKEN, or a file named by
CONTROLPLANE_AGENT_TOKEN_FILE), which the operator got from `controlplane node add NAME`: it holds
the node's uuid and its key (`controlplane.core.signing.NodeToken`). An agent does not start
without one, since the control plane refuses whatever it would send.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from controlplane.core import policy
from controlplane.core.environment import SettingsError, env_bind, env_int
from controlplane.core.messages import TAG_NAME
from controlplane.core.signing import NodeToken

PREFIX = "CONTROLPLANE_AGENT_"
PULL_POLICIES = ("never", "missing")


@dataclass(frozen=True)
class AgentSettings:
    token: NodeToken
    broker_url: str = "redis://127.0.0.1:6379/0"
    docker_url: str = "unix:///var/run/docker.sock"
    concurrency: int = 8
    # "missing" pulls an image the node lacks before creating; "never" fails the Action instead
    # (the default, for hosts with no registry access).
    pull: str = "never"
    heartbeat_interval: int = 5
    visibility_timeout: int = 3600
    # The host address published container ports are bound on. Loopback by default, so nothing
    # a container publishes is reachable from other machines until the operator says so.
    publish_ip: str = "127.0.0.1"
    # How often the agent sends the reporter its whole picture of the node (the relist).
    relist_interval: int = 15
    # Follow Docker's events (off only to test that the relist alone repairs drift).
    watch_events: bool = True
    # Names reported with the node's facts; a create may ask for a node with them.
    tags: tuple[str, ...] = ()
    # The dangerous options this node runs (core/policy.py); none unless its operator says so,
    # whatever the control plane allows, so a forged or mistaken task cannot escalate.
    allow_dangerous: frozenset[str] = frozenset()
    # Where the agent serves its Prometheus metrics; not served when None.
    metrics: tuple[str, int] | None = None

    @property
    def node_uuid(self) -> str:
        return self.token.node_uuid

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AgentSettings:
        env = os.environ if environ is None else environ
        pull = env.get(PREFIX + "PULL") or "never"
        if pull not in PULL_POLICIES:
            raise SettingsError(f"{PREFIX}PULL must be one of {', '.join(PULL_POLICIES)}")
        return cls(
            token=node_token(env),
            broker_url=env.get(PREFIX + "BROKER_URL") or cls.broker_url,
            docker_url=env.get(PREFIX + "DOCKER_URL") or cls.docker_url,
            concurrency=env_int(env, PREFIX + "CONCURRENCY", cls.concurrency, 1),
            pull=pull,
            heartbeat_interval=env_int(
                env, PREFIX + "HEARTBEAT_INTERVAL", cls.heartbeat_interval, 1
            ),
            visibility_timeout=env_int(
                env, PREFIX + "VISIBILITY_TIMEOUT", cls.visibility_timeout, 60
            ),
            publish_ip=_address(env.get(PREFIX + "PUBLISH_IP") or cls.publish_ip),
            relist_interval=env_int(env, PREFIX + "RELIST_INTERVAL", cls.relist_interval, 1),
            watch_events=env.get(PREFIX + "WATCH_EVENTS", "1") not in ("0", "false", "no"),
            tags=parse_tags(env.get(PREFIX + "TAGS", "")),
            allow_dangerous=_allowed(env.get(PREFIX + "ALLOW_DANGEROUS", "")),
            metrics=env_bind(env, PREFIX + "METRICS_BIND"),
        )


def _address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise SettingsError(f"{PREFIX}PUBLISH_IP must be an IP address, got {text!r}") from None


def _allowed(text: str) -> frozenset[str]:
    try:
        return policy.parse_allowed(text)
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}ALLOW_DANGEROUS: {exc}") from None


def parse_tags(text: str) -> tuple[str, ...]:
    """CONTROLPLANE_AGENT_TAGS: comma-separated names, sorted and without repeats; a bad name
    stops the agent at start-up rather than making a node nobody can ask for."""
    names = {name.strip() for name in text.split(",") if name.strip()}
    bad = sorted(name for name in names if not TAG_NAME.fullmatch(name))
    if bad:
        raise SettingsError(
            f"{PREFIX}TAGS: {bad[0]!r} must be 1 to 64 letters, digits, _ . : - starting with one"
        )
    return tuple(sorted(names))


def node_token(env: Mapping[str, str]) -> NodeToken:
    """The node's token, from CONTROLPLANE_AGENT_TOKEN or the file CONTROLPLANE_AGENT_TOKEN_FILE."""
    text = env.get(PREFIX + "TOKEN", "")
    path = env.get(PREFIX + "TOKEN_FILE")
    if not text and path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise SettingsError(f"{PREFIX}TOKEN_FILE: {exc}") from None
    if not text:
        raise SettingsError(
            f"{PREFIX}TOKEN (or {PREFIX}TOKEN_FILE) is not set: enroll this node with "
            "`controlplane node add NAME` on the control plane and give the agent the token it "
            "prints"
        )
    try:
        return NodeToken.parse(text)
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}TOKEN: {exc}") from None
