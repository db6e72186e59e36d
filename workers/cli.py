"""`controlplane agent`: run the node agent for the local Docker Engine.

Registered as a plugin of the `controlplane` command (entry point group `controlplane.commands`)
so the control plane's CLI never imports the agent. Options override the
CONTROLPLANE_AGENT_* variables of the same name.
"""

from __future__ import annotations

import logging
import os

import click

from workers.agent import run_agent
from workers.settings import PREFIX, AgentSettings


@click.command("agent")
@click.option("--broker-url", help="Broker URL (CONTROLPLANE_AGENT_BROKER_URL).")
@click.option("--node-name", help="Node name shown in the API (CONTROLPLANE_AGENT_NODE_NAME).")
@click.option("--docker-url", help="Docker Engine URL (CONTROLPLANE_AGENT_DOCKER_URL).")
@click.option("--state-dir", help="Where the node identity is kept (CONTROLPLANE_AGENT_STATE_DIR).")
@click.option("--tags", help="Comma-separated node tags (CONTROLPLANE_AGENT_TAGS).")
def agent(
    broker_url: str | None,
    node_name: str | None,
    docker_url: str | None,
    state_dir: str | None,
    tags: str | None,
) -> None:
    """Run a node agent: consume this node's queue and drive its Docker Engine."""
    overrides = {
        "BROKER_URL": broker_url,
        "NODE_NAME": node_name,
        "DOCKER_URL": docker_url,
        "STATE_DIR": state_dir,
        "TAGS": tags,
    }
    env = dict(os.environ)
    env.update({PREFIX + key: value for key, value in overrides.items() if value})
    settings = AgentSettings.from_env(env)
    logging.getLogger(__name__).info(
        "node agent %s (%s) for %s", settings.node_uuid, settings.node_name, settings.docker_url
    )
    run_agent(settings)
