"""The command of an exec (docs/api.md §6.5): the `command` query parameter of an exec socket,
split into the arguments the node agent hands Docker.

Pure and stdlib-only. The old CLIs join their arguments into one line, quoting any argument with
a space in double quotes and escaping its double quotes (`tutum exec`, `docker-cloud exec`), and
the SDKs send the line they are given, so the line is split the way a POSIX shell splits words
(`shlex`), as a container's `run_command` is. Nothing else of a shell applies: no variables, no
globbing, no pipes; `sh -c "..."` gives those.
"""

from __future__ import annotations

import shlex

from controlplane.core import checks
from controlplane.core.errors import InvalidInputError

FIELD = "command"
# The command travels in the URL of the handshake and in the sealed request to the node; gunicorn
# refuses a request line over 4094 bytes first (414), so a longer command is only ever met from a
# client of its own server or front.
MAX_COMMAND_BYTES = 4096


def exec_arguments(line: str | None) -> list[str]:
    """The arguments of an exec's command line, program first.

    Raises:
        InvalidInputError: no command (the server opens no interactive shell: the command's
            stdin is never attached, docs/api.md §10.9), a command over MAX_COMMAND_BYTES, one
            holding NUL, or one that cannot be split (an unbalanced quote).
    """
    if line is None or not line.strip():
        raise InvalidInputError(
            FIELD,
            "is required: name the command to run (e.g. command=ls+-l); this server runs a "
            "command without a terminal or stdin, so it cannot open an interactive shell",
        )
    checks.utf8_bytes(FIELD, checks.storable(FIELD, line), MAX_COMMAND_BYTES)
    try:
        arguments = shlex.split(line)
    except ValueError as exc:
        raise InvalidInputError(FIELD, f"cannot be split into arguments ({exc})") from None
    if not arguments[0]:
        raise InvalidInputError(FIELD, "names no program to run (its first argument is empty)")
    return arguments
