"""Indexes for container lists and placement at 100k records.

Revision ID: 0006
Revises: 0005

Every container list is scoped to its owner and ordered by id. With only `(owner_id, id)` to go
on, a `name`, `node` or `uuid__startswith` filter read every one of the owner's rows (SQLite
prefers the index that gives the order over the plain `name` index); each filter now has an
index that starts with `owner_id`. Placement counts live containers per node on every create:
a partial index holds only the live ones, so terminated history does not slow it down.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_CONTAINERS = "state != 'Terminated'"


def upgrade() -> None:
    op.drop_index("ix_containers_name", table_name="containers")
    op.create_index("ix_containers_owner_name", "containers", ["owner_id", "name"])
    op.create_index("ix_containers_owner_node", "containers", ["owner_id", "node_id"])
    op.create_index("ix_containers_owner_uuid", "containers", ["owner_id", "uuid"])
    op.create_index(
        "ix_containers_live_node",
        "containers",
        ["node_id", "state"],
        sqlite_where=sa.text(LIVE_CONTAINERS),
        postgresql_where=sa.text(LIVE_CONTAINERS),
    )


def downgrade() -> None:
    op.drop_index("ix_containers_live_node", table_name="containers")
    op.drop_index("ix_containers_owner_uuid", table_name="containers")
    op.drop_index("ix_containers_owner_node", table_name="containers")
    op.drop_index("ix_containers_owner_name", table_name="containers")
    op.create_index("ix_containers_name", "containers", ["name"])
