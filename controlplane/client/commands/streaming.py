"""Printing the API's logs and log streams: a container's, or a service's with each line led by its
container's name."""

from __future__ import annotations

import click

from controlplane.client.api import Api
from controlplane.client.streams import Stream


def print_logs(
    session: Api, rest_path: str, stream_path: str, follow: bool, tail: int | None
) -> None:
    """`logs [-f] [--tail N]` of a container or a service: its REST logs, or its log stream
    followed."""
    tail_param = {} if tail is None else {"tail": str(tail)}
    if not follow:
        click.echo(session.get(rest_path, **tail_param)["logs"], nl=False)
        return
    print_log_stream(session, stream_path, {"follow": "true", **tail_param})


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
