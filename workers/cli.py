"""`controlplane agent`: run the node agent for the local Docker Engine.

Registered as a plugin of the `controlplane` command (entry point group `controlplane.commands`)
so the control plane's CLI never imports the agent. Options override the
CONTROLPLANE_AGENT_* variables of the same name.
"""

from __future__ import annotations

import logging
import os

import click

from controlplane.core.environment import SettingsError
from workers.agent import run_agent
from workers.errors import DockerUnavailableError, StartupError
from workers.settings import PREFIX, AgentSettings


@click.command("agent")
@click.option("--broker-url", help="Broker URL (CONTROLPLANE_AGENT_BROKER_URL).")
@click.option("--docker-url", help="Docker Engine URL (CONTROLPLANE_AGENT_DOCKER_URL).")
@click.option(
    "--token-file",
    help="File holding the node's token from `controlplane node add` "
    "(CONTROLPLANE_AGENT_TOKEN_FILE).",
)
@click.option("--tags", help="Comma-separated node tags (CONTROLPLANE_AGENT_TAGS).")
def agent(
    broker_url: str | None,
    docker_url: str | None,
    token_file: str | None,
    tags: str | None,
) -> None:
    """Run a node agent: consume this node's queue and drive its Docker Engine."""
    overrides = {
        "BROKER_URL": broker_url,
        "DOCKER_URL": docker_url,
        "TOKEN_FILE": token_file,
        "TAGS": tags,
    }
    env = dict(os.environ)
    if token_file:
        env.pop(PREFIX + "TOKEN", None)
    env.update({PREFIX + key: value for key, value in overrides.items() if value})
    try:
        settings = AgentSettings.from_env(env)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    logging.getLogger(__name__).info(
        "node agent %s for %s", settings.node_uuid, settings.docker_url
    )
    try:
        run_agent(settings)
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    except DockerUnavailableError as exc:  # at start-up: the worker's tasks report their own
        raise click.ClickException(
            f"{exc}: is dockerd running, and does {PREFIX}DOCKER_URL (--docker-url) name its "
            "socket?"
        ) from None
