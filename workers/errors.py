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


class NameTakenError(AgentError):
    pass


class VolumeInUseError(AgentError):
    pass


class ActionCanceled(Exception):
    """The control plane canceled the operation's Action before this node claimed it: the
    operation must not go on. Not an `AgentError`, since nothing failed."""
