"""Users and their API keys: creation and verification.

Keys are random 256-bit tokens shown once and stored only as a SHA-256 digest. A slow password
hash (bcrypt, scrypt) buys nothing for a key with that much entropy and would cost every request
tens of milliseconds; the digest is enough to make a leaked database useless for logging in.
Each container and action belongs to exactly one user, who alone can see it.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from controlplane.core.credentials import Credentials
from controlplane.core.errors import InvalidInputError
from controlplane.db.engine import utcnow
from controlplane.db.models import ApiKey, User

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,149}$")


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
