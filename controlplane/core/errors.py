"""Domain errors of the control plane, with no HTTP knowledge.

Each error renders a human sentence from a template and keyword arguments. The API maps classes to
status codes in one table (`controlplane.api.errors`), walking the MRO, so a new error only needs
the right base class here.
"""

from __future__ import annotations

import re
from typing import Any


class ControlPlaneError(Exception):
    """Base of every error the control plane raises on purpose."""

    template = "control plane error"
    # The request field the error is about, for errors that are about one.
    field: str | None = None

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.message = message or self.template.format(**kwargs)
        super().__init__(self.message)

    @property
    def code(self) -> str:
        """The stable machine-readable code sent with the sentence (`error_code`)."""
        return error_code(type(self))


def error_code(cls: type[ControlPlaneError]) -> str:
    """The kebab-cased class name: the wire code of every error of that class, known without
    raising one (the OpenAPI document lists the codes each answer may carry)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", cls.__name__).lower()


class NotFoundError(ControlPlaneError):
    template = "{kind} {ident} not found"


class ContainerNotFoundError(NotFoundError):
    template = "container {ident} not found"


class ActionNotFoundError(NotFoundError):
    template = "action {ident} not found"


class ServiceNotFoundError(NotFoundError):
    template = "service {ident} not found"


class StackNotFoundError(NotFoundError):
    template = "stack {ident} not found"


class NodeNotFoundError(NotFoundError):
    template = "node {ident} not found"


class NamespaceNotFoundError(NotFoundError):
    template = "namespace {ident} not found"


class InvalidInputError(ControlPlaneError):
    """Bad request content; `field` names what was wrong so clients can point at it."""

    template = "{field}: {problem}"

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(field=field, problem=problem)

    def under(self, prefix: str) -> InvalidInputError:
        """The same problem, about the field as part of `prefix` (`services.web.ports`)."""
        return InvalidInputError(f"{prefix}.{self.field}", self.problem)


class DangerousOptionForbiddenError(ControlPlaneError):
    """A container option that gives power over the node, not allowed by the operator."""

    template = (
        "{field}: the {option} option is not allowed on this control plane; an operator can "
        "allow it with CONTROLPLANE_ALLOW_DANGEROUS={option}"
    )

    def __init__(self, field: str, option: str) -> None:
        self.field = field
        super().__init__(field=field, option=option)


class UnsupportedMediaTypeError(ControlPlaneError):
    template = "the request body must be JSON sent with Content-Type: application/json"


class AuthenticationError(ControlPlaneError):
    template = (
        "authentication required: send 'Authorization: ApiKey <user>:<key>' or Basic credentials"
    )


class ConflictError(ControlPlaneError):
    """The request is valid but the object's current state does not allow it (409)."""


class TransitionRefusedError(ConflictError):
    template = "cannot {action} container {uuid} in state {state}"


class ObjectTransitionRefusedError(ConflictError):
    """A service or stack action its derived state does not accept."""

    template = "cannot {action} {kind} {uuid} in state {state}"


class ContainerNotRunningError(ConflictError):
    """A command runs only in a Running container whose processes are not frozen."""

    template = "container {uuid} is {state}: a command can only be run in a Running container"


class ActionNotCancelableError(ConflictError):
    template = "action {uuid} is {state}; only a Pending action can be canceled"


class ActionNotRetriableError(ConflictError):
    template = (
        "action {uuid} is {state}; only a failed start, stop, redeploy or terminate can be retried"
    )


class NoNodeAvailableError(ControlPlaneError):
    """No node can take a new container now (none registered, all unreachable, or none with the
    requested tags); the message says which. Nothing was written."""

    template = "no deployed node is available to place the container on; start a node agent"


class NodeUnreachableError(ControlPlaneError):
    """The node's agent has stopped heartbeating; what only it could do is refused, not queued."""

    template = (
        "node {node} is {state}: its agent has not been heard from within the grace period; "
        "nothing was changed, try again once it is back"
    )


class BrokerUnavailableError(ControlPlaneError):
    template = "the message broker is unavailable ({detail}); nothing was changed, try again"


class NotReadyError(ControlPlaneError):
    """What an API process needs to serve requests is missing (`GET /readyz`)."""

    template = "not ready: {failing}"


class ExecFailedError(ControlPlaneError):
    """The node could not run an exec's command, or lost it: Docker's reason."""

    template = "the node could not run the command: {detail}"


class NodeTimeoutError(ControlPlaneError):
    template = "node {node} did not answer within {seconds} s"


class StreamCapacityError(ControlPlaneError):
    template = "this API process holds all the streams it can ({slots}); try again later"


class QuotaExceededError(ControlPlaneError):
    """The caller already holds as many live containers as its operator allows; nothing was
    written. Terminating one makes room."""

    template = (
        "you hold {count} live containers, the most this control plane allows a user "
        "({limit}); terminate one first"
    )


class RateLimitedError(ControlPlaneError):
    """Too many creates in the current minute; nothing was written."""

    template = "at most {limit} creates a minute per user; try again in {retry_after} s"


class UserStreamCapacityError(ControlPlaneError):
    """The caller holds as many streams on this API process as one user may: the refusal is
    about the caller's own sockets, not the server's room, so closing one of them helps."""

    template = (
        "you hold all the streams one user may open on this API process ({slots}); "
        "close one, or try again later"
    )
