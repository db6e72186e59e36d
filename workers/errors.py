"""Errors of the node agent. The driver translates docker-py's exceptions into these, by class
and status code, never by message text; a task turns them into a failure report."""

from __future__ import annotations


class AgentError(Exception):
    """A node operation failed; the message is the reason shown on the Action."""


class ImageMissingError(AgentError):
    pass


class DockerOperationError(AgentError):
    pass


class DockerUnavailableError(AgentError):
    pass


class NameTakenError(AgentError):
    pass
