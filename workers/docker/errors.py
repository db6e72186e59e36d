"""docker-py's failures as the agent's errors (`workers.errors`), by class and status code, never
by message text, with Docker's own explanation as the reason shown on the Action.

It must not import the rest of this package: the driver and the feeds of `observe` both use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import docker.errors

from workers.errors import DockerOperationError, DockerUnavailableError


@contextmanager
def translated(doing: str, passthrough: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Turn docker-py errors into agent errors whose text is Docker's own explanation."""
    try:
        yield
    except passthrough:
        raise
    except docker.errors.APIError as exc:
        detail = exc.explanation or str(exc)
        raise DockerOperationError(f"{doing}: {detail}") from exc
    except docker.errors.DockerException as exc:
        raise DockerUnavailableError(f"{doing}: Docker Engine unavailable ({exc})") from exc
    except OSError as exc:  # requests' connection errors derive from OSError
        raise DockerUnavailableError(f"{doing}: Docker Engine unavailable ({exc})") from exc


def root_reason(error: BaseException) -> str:
    """What lies under a docker-py error that never reached the Engine: the operating system's
    word for it ("No such file or directory", "Permission denied", "Connection refused"), found
    through the chain of errors docker-py, requests and urllib3 wrap it in; the error's own text
    when there is none."""
    pending, seen = [error], set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        pending += [arg for arg in current.args if isinstance(arg, BaseException)]
        pending += [link for link in (current.__cause__, current.__context__) if link]
    return str(error)


def status_code(error: BaseException | None) -> int | None:
    """The HTTP status of the Engine's answer behind a docker-py error, if it had one."""
    return getattr(getattr(error, "response", None), "status_code", None)
