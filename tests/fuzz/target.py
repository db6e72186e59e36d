"""The live API the fuzzer attacks, and what it knows of the database behind it.

`Snapshot` is every row of every table, so "this refused request wrote nothing" and "this
request of alice's changed nothing of bob's" are comparisons of two snapshots, not guesses
about which table a bug would touch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import requests
from sqlalchemy import select

from controlplane.db.engine import Database
from controlplane.db.models import ActionRecord, ApiKey, Base, Container, User
from tests.support.locations import IMAGE

# What only bob's objects hold: alice never sends these, so an answer to her that contains one
# has shown her something of bob's.
VICTIM_MARKERS = ("bob-secret-name", "bob-secret-env-value", "bob-secret-label")

Rows = dict[str, frozenset[tuple[Any, ...]]]


@dataclass
class Target:
    backend: str
    base_url: str
    keys: dict[str, str]
    node_uuid: str
    database: Database
    # uuids the fuzzer puts in paths and filters: alice's own, and bob's (which must be 404)
    own_uuids: list[str] = field(default_factory=list)
    victim_uuids: list[str] = field(default_factory=list)
    sessions: dict[str, requests.Session] = field(default_factory=dict)

    def session(self, username: str) -> requests.Session:
        if username not in self.sessions:
            session = requests.Session()
            session.headers["Authorization"] = f"ApiKey {username}:{self.keys[username]}"
            self.sessions[username] = session
        return self.sessions[username]

    def create(self, username: str, **fields: Any) -> dict[str, Any]:
        fields.setdefault("image_name", IMAGE)
        response = self.session(username).post(
            self.base_url + "/api/v1/container/", json=fields, timeout=30
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def snapshot(self) -> Snapshot:
        with self.database.session() as session:
            rows = {
                table.name: frozenset(
                    tuple(map(hashable, row)) for row in session.execute(select(table))
                )
                for table in Base.metadata.sorted_tables
            }
            bob = session.scalar(select(User.id).where(User.username == "bob"))
        return Snapshot(rows, bob)


def hashable(value: Any) -> Any:
    """A column's value as a set member: JSON columns come back as lists and dicts."""
    return json.dumps(value, sort_keys=True) if isinstance(value, list | dict) else value


@dataclass(frozen=True)
class Snapshot:
    rows: Rows
    victim_id: int | None

    def changed_tables(self, other: Snapshot) -> list[str]:
        return sorted(name for name, rows in self.rows.items() if other.rows.get(name) != rows)

    def victim_rows(self) -> frozenset[tuple[str, tuple[Any, ...]]]:
        """bob's rows: his user, keys, containers and actions."""
        owner_column = {
            User.__tablename__: User.__table__.c.id,
            ApiKey.__tablename__: ApiKey.__table__.c.user_id,
            Container.__tablename__: Container.__table__.c.owner_id,
            ActionRecord.__tablename__: ActionRecord.__table__.c.owner_id,
        }
        found = set()
        for name, column in owner_column.items():
            position = list(column.table.columns).index(column)
            found.update((name, row) for row in self.rows[name] if row[position] == self.victim_id)
        return frozenset(found)


def seed_victim(target: Target) -> None:
    """Objects of both tenants for the fuzzer's paths: bob's carry the markers; alice has a
    dozen containers, since with no agent each takes one action at most (it stays in the
    transitional state, and every later action is a 409). One container of each tenant has a
    started action, whose uuid joins the pool (the action endpoints take it)."""
    for username, pool, count in (("bob", target.victim_uuids, 2), ("alice", target.own_uuids, 12)):
        prefix = "bob-secret" if username == "bob" else "alice"
        for n in range(count):
            created = target.create(
                username,
                name=f"{prefix}-name-{n}",
                container_envvars=[{"key": "TOKEN", "value": f"{prefix}-env-value"}],
                labels={"note": f"{prefix}-label"},
            )
            pool.append(created["uuid"])
        started = target.session(username).post(
            f"{target.base_url}/api/v1/container/{pool[0]}/start/", timeout=30
        )
        assert started.status_code == 202, started.text
        pool.append(started.headers["X-Tutum-Action-URI"].rstrip("/").rsplit("/", 1)[1])
