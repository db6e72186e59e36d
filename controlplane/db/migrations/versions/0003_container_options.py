"""container options: every Docker-backed container field of docs/api.md §3.4

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 22:00:00.000000

Adds the create options and the observed host ports to `containers`. Every new column has a
server default, so containers created before this revision read as created without the option.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FLAGS = ("tty", "stdin_open", "read_only", "privileged")
_LISTS = (
    "container_ports",
    "bindings",
    "dns",
    "dns_search",
    "extra_hosts",
    "cap_add",
    "cap_drop",
    "devices",
    "security_opt",
    "bound_ports",
)
# name -> (length, default)
_WORDS = {
    "cpuset": (128, ""),
    "user": (255, ""),
    "hostname": (64, ""),
    "domainname": (64, ""),
    "mac_address": (17, ""),
    "net": (16, "bridge"),
    "pid": (16, "none"),
    "autodestroy": (16, "OFF"),
}


def _columns() -> list[sa.Column[Any]]:
    columns: list[sa.Column[Any]] = [sa.Column("memory_swap", sa.Integer(), nullable=True)]
    columns += [
        sa.Column(name, sa.Boolean(), server_default=sa.false(), nullable=False) for name in _FLAGS
    ]
    columns += [
        sa.Column(name, sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        for name in _LISTS
    ]
    columns += [
        sa.Column(
            name, sa.String(length=length), server_default=sa.text(f"'{default}'"), nullable=False
        )
        for name, (length, default) in _WORDS.items()
    ]
    return columns


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("containers", schema=None) as batch_op:
        for column in _columns():
            batch_op.add_column(column)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("containers", schema=None) as batch_op:
        for column in reversed(_columns()):
            batch_op.drop_column(column.name)
