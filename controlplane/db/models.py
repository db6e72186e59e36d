"""SQLAlchemy tables: columns, keys and indexes only, no behaviour.

Queries and conditional updates live in `controlplane.store`; the wire shape lives in
`controlplane.api.serializers`. Datetimes are naive UTC (SQLite keeps no zone); the serializers
attach the zone on the way out. The schema is created and changed only by the Alembic migrations
in `controlplane/migrations`, which must be kept in step with this file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    literal_column,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from controlplane.core.lifecycle import State

# Columns added after the first release carry server defaults too, so rows that existed before
# their migration read the same as rows created since.


def _flag() -> Any:
    return mapped_column(Boolean, default=False, server_default=false())


def _word(length: int, default: str = "") -> Any:
    # A quoted literal: alembic compares an empty default given as "" unequal to itself.
    return mapped_column(String(length), default=default, server_default=text(f"'{default}'"))


def _json_list() -> Any:
    return mapped_column(JSON, default=list, server_default=text("'[]'"))


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    created_at: Mapped[datetime]


class ApiKey(Base):
    """An API key, stored only as a SHA-256 digest (`controlplane.core.credentials` says why
    SHA-256)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class Node(Base):
    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(32))
    docker_version: Mapped[str] = mapped_column(String(64), default="")
    cpu: Mapped[int] = mapped_column(Integer, default=0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    disk_gb: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    observed_ns: Mapped[int] = mapped_column(BigInteger, default=0)
    deployed_datetime: Mapped[datetime]
    last_seen: Mapped[datetime]
    # Migration 0004: the names the agent reports (CONTROLPLANE_AGENT_TAGS), for placement.
    tags: Mapped[list[str]] = _json_list()
    # Migration 0008: the node's credential (controlplane.core.signing). Its key is derived
    # from the secret key and this generation, which a rotation bumps; a revoked node's
    # messages are refused whatever key signed them.
    key_generation: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    revoked: Mapped[bool] = _flag()


# A live service or stack: its unique name is its owner's alone (migration 0009).
LIVE_GOAL = "goal != 'terminated'"


class Stack(Base):
    """A group of services made from one stackfile (migration 0009). Its state is derived from
    its services' (`controlplane.core.servicestate`), never stored."""

    __tablename__ = "stacks"
    __table_args__ = (
        Index("ix_stacks_owner_order", "owner_id", "id"),
        Index("ix_stacks_owner_name", "owner_id", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(255))
    goal: Mapped[str] = mapped_column(String(16))
    # The stack's open Action: closed once every service it acted on has closed its own.
    action_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    deployed_datetime: Mapped[datetime | None]
    destroyed_datetime: Mapped[datetime | None]


class Service(Base):
    """A template for `target_num_containers` containers (migration 0009).

    What the owner asked for (`goal`, the target, the definition) is written by the API; what
    the containers are is theirs. `definition` holds the container create values every new or
    redeployed container copies; `generation` counts redeploys, and a container whose own
    generation is lower is one a redeploy has yet to replace. `operation` and `action_id` name
    the multi-step change under way and its Action, which `controlplane.servicecontrol` closes.
    """

    __tablename__ = "services"
    __table_args__ = (
        Index("ix_services_owner_order", "owner_id", "id"),
        Index("ix_services_owner_name", "owner_id", "name"),
        Index("ix_services_stack", "stack_id"),
        Index(
            "ux_services_owner_unique_name",
            "owner_id",
            "unique_name",
            unique=True,
            sqlite_where=text(LIVE_GOAL),
            postgresql_where=text(LIVE_GOAL),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    stack_id: Mapped[int | None] = mapped_column(ForeignKey("stacks.id"))
    name: Mapped[str] = mapped_column(String(255))
    unique_name: Mapped[str] = mapped_column(String(300))
    image_name: Mapped[str] = mapped_column(String(512))
    target_num_containers: Mapped[int] = mapped_column(Integer)
    deployment_strategy: Mapped[str] = mapped_column(String(32))
    autoreplace: Mapped[str] = mapped_column(String(16))
    sequential_deployment: Mapped[bool] = mapped_column(Boolean)
    tags: Mapped[list[str]] = mapped_column(JSON)
    # [{"to_service": <service uuid>, "name": <alias or null>}]
    linked_to_service: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    goal: Mapped[str] = mapped_column(String(16))
    operation: Mapped[str] = mapped_column(String(16), default="")
    action_id: Mapped[int | None] = mapped_column(Integer)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    # False from a change of the definition until the next redeploy (the CLIs mark it "(*)").
    synchronized: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    deployed_datetime: Mapped[datetime | None]
    started_datetime: Mapped[datetime | None]
    stopped_datetime: Mapped[datetime | None]
    destroyed_datetime: Mapped[datetime | None]

    stack: Mapped[Stack | None] = relationship(lazy="joined")


# The condition of the partial index of live containers. A query must repeat it literally (not
# as a bound parameter) for SQLite to use the index: see `LIVE`.
LIVE_CONTAINERS = "state != 'Terminated'"


class Container(Base):
    __tablename__ = "containers"
    # Lists are scoped to their owner and ordered by id, so every list filter has an index that
    # starts with owner_id (migration 0006): with the filter's columns next, the index (whose
    # entries end with the row id) yields a page in list order without reading the rest.
    __table_args__ = (
        Index("ix_containers_owner_order", "owner_id", "id"),
        Index("ix_containers_owner_state", "owner_id", "state"),
        Index("ix_containers_owner_name", "owner_id", "name"),
        Index("ix_containers_owner_node", "owner_id", "node_id"),
        # uuid__startswith, as a range on the uuid (engine.uuid_prefix).
        Index("ix_containers_owner_uuid", "owner_id", "uuid"),
        Index("ix_containers_owner_unique_name", "owner_id", "unique_name"),
        Index("ix_containers_service", "service_id", "service_index"),
        Index("ix_containers_node_state", "node_id", "state"),
        # Placement counts each node's live containers on every create; terminated containers
        # stay recorded for ever, so the count reads this index of the live ones only.
        Index(
            "ix_containers_live_node",
            "node_id",
            "state",
            sqlite_where=text(LIVE_CONTAINERS),
            postgresql_where=text(LIVE_CONTAINERS),
        ),
    )

    # The integer id orders lists: it grows with creation, so offset paging is deterministic.
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    name: Mapped[str] = mapped_column(String(255))
    # Unique per owner among live containers, not across owners (migration 0009): a service's
    # containers are `<service>-<n>` in every account. Docker's name is
    # `operations.docker_name`.
    unique_name: Mapped[str] = mapped_column(String(300))
    image_name: Mapped[str] = mapped_column(String(512))
    state: Mapped[str] = mapped_column(String(32))
    run_command: Mapped[str | None] = mapped_column(Text)
    entrypoint: Mapped[str] = mapped_column(Text, default="")
    working_dir: Mapped[str] = mapped_column(Text, default="")
    container_envvars: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    memory: Mapped[int | None] = mapped_column(Integer)
    cpu_shares: Mapped[int | None] = mapped_column(Integer)
    autorestart: Mapped[str] = mapped_column(String(16), default="OFF")
    # Options of migration 0002 (docs/api.md §3.4); core/validation.py says what each may hold.
    container_ports: Mapped[list[dict[str, Any]]] = _json_list()
    bindings: Mapped[list[dict[str, Any]]] = _json_list()
    memory_swap: Mapped[int | None] = mapped_column(Integer)
    cpuset: Mapped[str] = _word(128)
    user: Mapped[str] = _word(255)
    hostname: Mapped[str] = _word(64)
    domainname: Mapped[str] = _word(64)
    mac_address: Mapped[str] = _word(17)
    tty: Mapped[bool] = _flag()
    stdin_open: Mapped[bool] = _flag()
    read_only: Mapped[bool] = _flag()
    privileged: Mapped[bool] = _flag()
    dns: Mapped[list[str]] = _json_list()
    dns_search: Mapped[list[str]] = _json_list()
    extra_hosts: Mapped[list[str]] = _json_list()
    net: Mapped[str] = _word(16, "bridge")
    pid: Mapped[str] = _word(16, "none")
    cap_add: Mapped[list[str]] = _json_list()
    cap_drop: Mapped[list[str]] = _json_list()
    devices: Mapped[list[str]] = _json_list()
    security_opt: Mapped[list[str]] = _json_list()
    autodestroy: Mapped[str] = _word(16, "OFF")
    # Observed, written only by the reporter: the host ports Docker bound while the container
    # last ran ([{protocol, inner_port, host_ip, outer_port}]); empty when it is not running.
    bound_ports: Mapped[list[dict[str, Any]]] = _json_list()
    exit_code: Mapped[int | None] = mapped_column(Integer)
    # Observed (migration 0007): a Running container whose processes are frozen (`docker pause`).
    paused: Mapped[bool] = _flag()
    # Why it is Stopped or Terminated when the control plane did not do it (migration 0004).
    state_reason: Mapped[str | None] = mapped_column(Text)
    docker_id: Mapped[str | None] = mapped_column(String(64))
    # Time of the last observation applied (see lifecycle.accepts_report).
    observed_ns: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    deployed_datetime: Mapped[datetime | None]
    started_datetime: Mapped[datetime | None]
    stopped_datetime: Mapped[datetime | None]
    destroyed_datetime: Mapped[datetime | None]

    # Migration 0009: the service the container was made for (null for a plain container), its
    # number in that service, and the service generation its definition was copied at.
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    service_index: Mapped[int | None] = mapped_column(Integer)
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The owner's user-defined Docker network a service container joins, and the names it is
    # reached by there (its service's and its own unique names): how links resolve.
    network: Mapped[str] = _word(64)
    network_aliases: Mapped[list[str]] = _json_list()

    node: Mapped[Node] = relationship(lazy="joined")
    service: Mapped[Service | None] = relationship(lazy="joined")


# Containers that are not Terminated, as a WHERE clause. The state is written into the SQL, not
# bound: SQLite uses the partial index of live containers only for a query whose WHERE clause
# holds the index's own condition, literally.
LIVE = Container.state != literal_column(f"'{State.TERMINATED.value}'")


class ActionRecord(Base):
    """The audit record of one API call (Tutum's Action), named so it does not shadow
    `lifecycle.Action`."""

    __tablename__ = "actions"
    __table_args__ = (Index("ix_actions_owner_order", "owner_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The action's object: a container, or (migration 0009) a service or a stack.
    container_id: Mapped[int | None] = mapped_column(ForeignKey("containers.id"), index=True)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"), index=True)
    stack_id: Mapped[int | None] = mapped_column(ForeignKey("stacks.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    # "create" or a lifecycle.Action value: what a retry runs again.
    operation: Mapped[str] = mapped_column(String(16))
    # The stable state the container returns to if the operation fails or is canceled.
    rollback_state: Mapped[str | None] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(Text)
    user_agent: Mapped[str] = mapped_column(Text, default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    start_date: Mapped[datetime]
    end_date: Mapped[datetime | None]

    container: Mapped[Container | None] = relationship(lazy="joined")
    service: Mapped[Service | None] = relationship(lazy="joined")
    stack: Mapped[Stack | None] = relationship(lazy="joined")
    owner: Mapped[User] = relationship(lazy="joined")
