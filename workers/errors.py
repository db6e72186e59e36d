"""Errors of the node agent. The driver translates docker-py's exceptions into these, by class
and status code, never by message text; a task turns them into a failure report."""

from __future__ import annotations

from controlplane.core.lifecycle import State


class AgentError(Exception):
    """A node operation failed; the message is the reason shown on the Action.

    `state` is set when the failure left the container in a known stable state other than the
    one the operation started from (a redeploy that had already removed the old container leaves
    it Stopped); the failure report then says so instead of rolling back to a state that is no
    longer true.
    """

    state: State | None = None


class ImageMissingError(AgentError):
    pass


class DockerOperationError(AgentError):
    pass


class DockerUnavailableError(AgentError):
    pass


class StartupError(AgentError):
    """The agent cannot start as configured (its metrics' port is taken, say)."""


class NameTakenError(AgentError):
    pass


class NodePolicyError(AgentError):
    """The node's own policy refuses a dangerous option the operation would run with."""


class VolumeInUseError(AgentError):
    pass


class NotRunningError(AgentError):
    """The container a command was to run in is not running on this node (stopped, paused,
    restarting or gone)."""


class NotGranted(Exception):
    """The operation may not run: its claim was refused, or not answered yet. Not an
    `AgentError`, since nothing failed and nothing is reported."""

    def __init__(self, action_uuid: str, reason: str) -> None:
        super().__init__(f"action {action_uuid}: {reason}")
        self.action_uuid = action_uuid
        self.reason = reason


class ClaimRefused(NotGranted):
    """The control plane refused the claim (the Action was canceled, closed, superseded, is
    unknown or not this node's): the operation must never run, and its task is done."""


class ClaimUnanswered(NotGranted):
    """The claim could not be sent or was not answered in time: the operation must not run
    yet, and its task is retried until the control plane answers."""
