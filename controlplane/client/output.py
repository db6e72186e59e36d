"""How the client prints objects: aligned columns by default, as `docker ps` does, or the API's
own JSON with `--json` for scripts.

The tables are a dozen lines of string formatting, so no table library earns its place.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import click

from controlplane.client.api import uuid_of

Column = tuple[str, Callable[[dict[str, Any]], str]]


def table(rows: Iterable[dict[str, Any]], columns: Sequence[Column]) -> None:
    """Print `rows` under the headings of `columns`, each column as wide as its widest cell."""
    cells = [[heading for heading, _ in columns]]
    cells += [[_one_line(cell(row)) for _, cell in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        click.echo(
            "   ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


def _one_line(text: str) -> str:
    """A cell never breaks the table: a user's name or command may hold any character."""
    return "".join(c if c.isprintable() else "?" for c in text)


def as_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def field(name: str) -> Callable[[dict[str, Any]], str]:
    return lambda row: "" if row.get(name) is None else str(row[name])


def short_uuid(row: dict[str, Any]) -> str:
    return str(row.get("uuid", ""))[:8]


def last_part(name: str) -> Callable[[dict[str, Any]], str]:
    """The uuid a resource URI field ends with, shortened: `node` -> `3f2a8c1d`."""
    return lambda row: uuid_of(str(row.get(name) or ""))[:8]


def ago(name: str) -> Callable[[dict[str, Any]], str]:
    """How long ago a date field was (`5 minutes ago`), from the API's RFC 2822 dates."""

    def cell(row: dict[str, Any]) -> str:
        if not row.get(name):
            return ""
        try:
            then = parsedate_to_datetime(str(row[name]))
        except (TypeError, ValueError):
            return str(row[name])
        if then.tzinfo is None:
            then = then.replace(tzinfo=UTC)
        return _span((datetime.now(UTC) - then).total_seconds()) + " ago"

    return cell


def _span(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count > 1 else ''}"
    count = max(int(seconds), 0)
    return f"{count} second{'' if count == 1 else 's'}"
