"""Nodes hold the generation of their credential and whether it was revoked.

Nodes registered before this migration are at generation 1 and not revoked: their agents
need a token (`controlplane node rotate NODE` prints one) before they are heard again.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs: a batch operation would copy the nodes table on SQLite, which the
    # containers' foreign keys refuse once any container exists.
    op.add_column(
        "nodes", sa.Column("key_generation", sa.Integer(), server_default="1", nullable=False)
    )
    op.add_column(
        "nodes", sa.Column("revoked", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("revoked")
        batch.drop_column("key_generation")
