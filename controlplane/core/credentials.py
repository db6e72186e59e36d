"""Parsing of the Authorization header forms the Tutum and Docker Cloud clients send.

Pure (no database): `controlplane.db.users` verifies the credentials. The forms are
`ApiKey <user>:<key>` (seed-era docs and python-tutum <= 0.20.1), `Apikey <user>:<key>`
(python-tutum 0.20.2) and `Basic base64(<user>:<key>)` (python-tutum 0.21, python-dockercloud);
the scheme is matched case-insensitively (docs/api.md §2.1).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Credentials:
    username: str
    key: str


def parse_authorization(header: str | None) -> Credentials | None:
    """Credentials from an Authorization header value, or None when it is absent or malformed."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "apikey":
        pair = value
    elif scheme == "basic":
        try:
            pair = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
    else:
        return None
    return _split_pair(pair)


def _split_pair(pair: str) -> Credentials | None:
    username, sep, key = pair.partition(":")
    if not sep or not username or not key:
        return None
    return Credentials(username=username, key=key)


def stream_credentials(header: str | None, query: Mapping[str, str]) -> Credentials | None:
    """Credentials of a stream handshake: the Authorization header, else the query forms that
    2015-era SDKs sent on stream URLs (docs/api.md §2.1): `auth=<urlencoded header value>` or
    `user=<name>&token=<key>`.

    A `+` of a Basic value that the client did not percent-encode arrives decoded as a space;
    neither form can hold a space after the scheme, so spaces there are read back as `+`.
    """
    if header:
        return parse_authorization(header)
    auth = query.get("auth")
    if auth:
        scheme, _, value = auth.lstrip().partition(" ")
        return parse_authorization(f"{scheme} {value.replace(' ', '+')}")
    username, key = query.get("user"), query.get("token")
    if username and key:
        return Credentials(username=username, key=key)
    return None
