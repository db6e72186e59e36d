"""state reason: why a container is Stopped or Terminated when the control plane did not do it

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 22:35:00.000000

Adds `containers.state_reason`: set by the reporter from what the node observed ("killed: out of
memory", "removed outside the control plane", ...) and shown in `exit_code_msg`; NULL for a
change the control plane made itself, and for every container that existed before this revision.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("containers") as batch:
        batch.add_column(sa.Column("state_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("containers") as batch:
        batch.drop_column("state_reason")
