"""Printing the API's log streams: a container's, or a service's with each line led by its
container's name."""

from __future__ import annotations

import click

from controlplane.client.api import Api
from controlplane.client.streams import Stream


def print_log_stream(session: Api, path: str, params: dict[str, str]) -> None:
    """Print a log stream's lines as they come (a service's led by their container's name);
    an error if it ends other than normally."""
    with Stream(session, path, params) as stream:
        for frame in stream.frames():
            if frame and frame.get("type") == "log":
                source = f"{frame['source']} | " if frame.get("source") else ""
                click.echo(source + frame["log"], nl=False, err=frame.get("streamType") == "stderr")
            elif frame and frame.get("type") == "error":
                raise stream.error(frame)
        ended = stream.ended("log")
        if ended:
            raise ended
