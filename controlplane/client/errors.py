"""The client's failures, each printed as one `Error: ...` line by click and exit status 1."""

from __future__ import annotations

import click


class ClientError(click.ClickException):
    """Something the user can mend: a setting, an argument, a refusal of the API."""


class ActionFailedError(ClientError):
    """An operation the API accepted ended Failed or Canceled (`--wait`)."""
