"""Actions remember their operation and rollback state (cancel, retry); nodes report disk.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPERATIONS = {
    "Container Create": "create",
    "Container Start": "start",
    "Container Stop": "stop",
    "Container Terminate": "terminate",
}


def upgrade() -> None:
    with op.batch_alter_table("actions") as batch:
        batch.add_column(sa.Column("operation", sa.String(16), nullable=False, server_default=""))
        batch.add_column(sa.Column("rollback_state", sa.String(32), nullable=True))
    actions = sa.table("actions", sa.column("name", sa.String), sa.column("operation", sa.String))
    for name, operation in _OPERATIONS.items():
        op.execute(actions.update().where(actions.c.name == name).values(operation=operation))
    with op.batch_alter_table("actions") as batch:
        batch.alter_column("operation", server_default=None)
    # A plain ADD COLUMN: rebuilding `nodes` (batch mode) would trip the containers' foreign key.
    op.add_column("nodes", sa.Column("disk_gb", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("nodes", "disk_gb")
    with op.batch_alter_table("actions") as batch:
        batch.drop_column("rollback_state")
        batch.drop_column("operation")
