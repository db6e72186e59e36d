"""Users and their API keys: creation, verification and revocation.

Keys are random 256-bit tokens shown once and stored only as a SHA-256 digest. A slow password
hash (bcrypt, scrypt) buys nothing for a key with that much entropy and would cost every request
tens of milliseconds; the digest is enough to make a leaked database useless for logging in.
Each container and action belongs to exactly one user, who alone can see it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any, cast

from sqlalchemy import bindparam, delete, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from controlplane.core.credentials import Credentials
from controlplane.core.errors import InvalidInputError
from controlplane.db.engine import utcnow
from controlplane.db.models import ApiKey, User

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,149}$")
# How many hex digits of a key's digest name it in `key list`: enough to tell a user's keys
# apart, and nothing a caller could log in with.
FINGERPRINT_DIGITS = 12


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def ensure_user(session: Session, username: str) -> tuple[User, bool]:
    """The user called `username`, created if missing; the flag says whether it was created."""
    if not _USERNAME.match(username):
        raise InvalidInputError("username", "use letters, digits and _ . @ - (at most 150)")
    user = find_user(session, username)
    if user is not None:
        return user, False
    user = User(username=username, created_at=utcnow())
    session.add(user)
    session.commit()
    return user, True


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def issue_key(session: Session, user: User) -> str:
    """Create a new API key for `user` and return it; only its digest is kept."""
    key = secrets.token_hex(32)
    session.add(ApiKey(user_id=user.id, key_hash=hash_key(key), created_at=utcnow()))
    session.commit()
    return key


def fingerprint(api_key: ApiKey) -> str:
    """What names a key to its holder without showing it: the start of its SHA-256 digest,
    which `printf %s KEY | sha256sum` gives from the key."""
    return api_key.key_hash[:FINGERPRINT_DIGITS]


def keys_of(session: Session, user: User) -> list[ApiKey]:
    """The user's keys, oldest first."""
    return list(
        session.scalars(select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.id))
    )


def revoke_keys(session: Session, user: User, *, which: str | None) -> int:
    """Delete the user's key `which` names (its id in `key list`, its fingerprint, or the key
    itself), or every key of the user when `which` is None; how many went. A request with a
    deleted key is refused from the next one on: every request looks its key up."""
    query = delete(ApiKey).where(ApiKey.user_id == user.id)
    if which is not None:
        query = query.where(_naming(which))
    deleted = cast(CursorResult[Any], session.execute(query)).rowcount
    session.commit()
    return deleted


def _naming(which: str) -> Any:
    if which.isdigit() and len(which) < 10:
        return ApiKey.id == int(which)
    if len(which) == FINGERPRINT_DIGITS:
        return ApiKey.key_hash.startswith(which.lower(), autoescape=True)
    return ApiKey.key_hash == hash_key(which)


# Built once, since every request runs it.
_AUTHENTICATE = (
    select(User)
    .join(ApiKey, ApiKey.user_id == User.id)
    .where(ApiKey.key_hash == bindparam("key_hash"), User.username == bindparam("username"))
)


def authenticate(session: Session, credentials: Credentials) -> User | None:
    """The user the credentials belong to, or None; the username must match the key's owner."""
    return session.scalar(
        _AUTHENTICATE, {"key_hash": hash_key(credentials.key), "username": credentials.username}
    )
