"""Per-user limits on creates: live containers (a 403 once at the cap, nothing written) and
creates a minute (a 429 with Retry-After, counted in Redis; a stand-in counts here); and list
pages bounded in bytes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from controlplane.app import create_app
from controlplane.core.errors import RateLimitedError
from controlplane.db.models import Container
from controlplane.ratelimit import CreateRate
from controlplane.settings import Settings
from tests.unit.helpers import CONTAINERS, Account, assert_error


@pytest.fixture
def capped(settings: Settings) -> Iterator[FlaskClient]:
    """An API over the same database whose operator allows each user two live containers."""
    app = create_app(dataclasses.replace(settings, max_containers_per_user=2))
    yield app.test_client()
    app.extensions["controlplane"].database.dispose()


def post(client: FlaskClient, account: Account) -> Any:
    return client.post(CONTAINERS, json={"image_name": "busybox"}, headers=account.headers)


def owned(session: Session, account: Account) -> int:
    session.rollback()
    query = select(func.count()).where(Container.owner_id == account.user_id)
    return session.scalar(query) or 0


def test_a_user_at_the_cap_creates_nothing_until_one_is_terminated(
    capped: FlaskClient, account: Account, node: str, session: Session
) -> None:
    for _ in range(2):
        assert post(capped, account).status_code == 201
    body = assert_error(post(capped, account), 403)
    assert body["code"] == "quota-exceeded-error"
    assert "(2)" in body["error"]
    assert owned(session, account) == 2
    session.execute(
        update(Container).where(Container.owner_id == account.user_id).values(state="Terminated")
    )
    session.commit()
    assert post(capped, account).status_code == 201


def test_one_users_containers_leave_another_users_cap_alone(
    capped: FlaskClient, make_account: Any, node: str
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    for _ in range(2):
        assert post(capped, alice).status_code == 201
    assert post(capped, bob).status_code == 201


class Counter:
    """Stands in for Redis: INCR and EXPIRE through a pipeline, as CreateRate uses them."""

    def __init__(self, *, down: bool = False) -> None:
        self.counts: dict[str, int] = {}
        self.down = down
        self._ops: list[str] = []

    def pipeline(self) -> Counter:
        self._ops = []
        return self

    def incr(self, key: str) -> None:
        self._ops.append(key)

    def expire(self, key: str, seconds: int) -> None:
        assert seconds >= 60

    def execute(self) -> list[Any]:
        if self.down:
            raise redis.ConnectionError("refused")
        [key] = self._ops
        self.counts[key] = self.counts.get(key, 0) + 1
        return [self.counts[key], True]


def test_creates_past_the_rate_wait_for_the_next_minute() -> None:
    now = [600.0 + 45]
    rate = CreateRate(Counter(), 3, clock=lambda: now[0])  # type: ignore[arg-type]
    for _ in range(3):
        rate.take(1)
    with pytest.raises(RateLimitedError) as refused:
        rate.take(1)
    assert refused.value.kwargs == {"limit": 3, "retry_after": 15}
    rate.take(2)  # another user's minute is its own
    now[0] += 15
    rate.take(1)


def test_a_create_is_let_through_when_redis_cannot_count_it(caplog: Any) -> None:
    rate = CreateRate(Counter(down=True), 1)  # type: ignore[arg-type]
    for _ in range(3):
        rate.take(1)
    assert "not counted against its rate" in caplog.text


def test_a_rate_limited_create_is_a_429_with_retry_after(
    client: FlaskClient, account: Account, node: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    operations = client.application.extensions["controlplane"].operations
    monkeypatch.setattr(operations, "create_rate", CreateRate(Counter(), 1))  # type: ignore[arg-type]
    assert post(client, account).status_code == 201
    response = post(client, account)
    body = assert_error(response, 429)
    assert body["code"] == "rate-limited-error"
    assert 0 < int(response.headers["Retry-After"]) <= 60


@pytest.fixture
def small_pages(settings: Settings) -> Iterator[FlaskClient]:
    """An API whose list pages hold at most 64 KiB of objects."""
    app = create_app(dataclasses.replace(settings, max_page_bytes=64 * 1024))
    yield app.test_client()
    app.extensions["controlplane"].database.dispose()


def test_a_page_of_large_objects_is_cut_short_and_its_next_misses_nothing(
    small_pages: FlaskClient, account: Account, node: str
) -> None:
    label = {f"big-{n}": "x" * 4000 for n in range(5)}  # 20 kB: three fill 64 KiB
    made = [
        small_pages.post(
            CONTAINERS, json={"image_name": "busybox", "labels": label}, headers=account.headers
        ).json["uuid"]
        for _ in range(5)
    ]
    seen: list[str] = []
    url: str | None = CONTAINERS + "?limit=5"
    while url:
        page = small_pages.get(url, headers=account.headers).json
        assert len(page["objects"]) <= 3
        seen += [obj["uuid"] for obj in page["objects"]]
        url = page["meta"]["next"]
    assert sorted(seen) == sorted(made)
