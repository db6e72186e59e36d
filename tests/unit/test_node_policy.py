"""The node's own policy: an agent runs no dangerous option its operator did not allow, whatever
the task says (and, since the policy is checked after the claim, only a granted task's Action
says so)."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.core.environment import SettingsError
from controlplane.core.messages import Operation
from controlplane.core.signing import NodeToken
from workers.errors import NodePolicyError
from workers.settings import AgentSettings
from workers.tasks import check_node_policy

TOKEN = NodeToken(node_uuid="4b1c2c5e-0000-4000-8000-000000000001", key=b"k" * 32)
ENV = {"CONTROLPLANE_AGENT_TOKEN": str(TOKEN)}


def operation(**spec: Any) -> Operation:
    return Operation(
        action="start",
        action_uuid="a",
        container_uuid="c",
        rollback_state="Init",
        issued_ns=1,
        spec={"uuid": "c", "unique_name": "web-c", "image_name": "busybox:latest", **spec},
    )


def test_an_agent_allows_no_dangerous_option_by_default() -> None:
    assert AgentSettings.from_env(ENV).allow_dangerous == frozenset()


def test_the_agents_allow_list_is_read_and_checked() -> None:
    env = {**ENV, "CONTROLPLANE_AGENT_ALLOW_DANGEROUS": "net_host, PID_HOST"}
    assert AgentSettings.from_env(env).allow_dangerous == {"net_host", "pid_host"}
    with pytest.raises(SettingsError, match="CONTROLPLANE_AGENT_ALLOW_DANGEROUS"):
        AgentSettings.from_env({**ENV, "CONTROLPLANE_AGENT_ALLOW_DANGEROUS": "root"})


@pytest.mark.parametrize(
    ("spec", "field", "option"),
    [
        ({"net": "host"}, "net", "net_host"),
        ({"pid": "host"}, "pid", "pid_host"),
        ({"privileged": True}, "privileged", "privileged"),
        ({"cap_add": ["SYS_ADMIN"]}, "cap_add", "cap_add"),
        (
            {"bindings": [{"host_path": "/", "container_path": "/host"}]},
            "bindings",
            "host_bindings",
        ),
        ({"security_opt": ["no-new-privileges=false"]}, "security_opt", "security_opt"),
    ],
)
def test_a_granted_task_with_a_dangerous_option_fails_with_the_nodes_reason(
    spec: dict[str, Any], field: str, option: str
) -> None:
    with pytest.raises(NodePolicyError) as refused:
        check_node_policy(operation(**spec), frozenset())
    assert str(refused.value) == (
        f"{field}: this node does not run containers with the {option} option; its operator "
        f"can allow it with CONTROLPLANE_AGENT_ALLOW_DANGEROUS={option}"
    )


def test_an_allowed_option_and_a_plain_definition_pass() -> None:
    check_node_policy(operation(net="host"), frozenset({"net_host"}))
    check_node_policy(operation(), frozenset())


def test_an_operation_without_a_definition_is_not_checked() -> None:
    stop = Operation(
        action="stop", action_uuid="a", container_uuid="c", rollback_state="Running", issued_ns=1
    )
    check_node_policy(stop, frozenset())
