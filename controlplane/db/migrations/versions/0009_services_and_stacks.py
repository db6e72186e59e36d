"""Services and stacks; containers and actions belong to them.

Containers gain their service, number and generation, and their unique name becomes unique per
owner only (a service's containers are `<service>-<n>` in every account): the table is rebuilt
on SQLite to drop the old constraint, with foreign keys off for the copy (`env.py`). Actions may
name a service or a stack instead of a container. Existing rows read as before: plain
containers, container actions.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_GOAL = sa.text("goal != 'terminated'")
# Names for the constraints 0001 left unnamed, so a batch rebuild can find and drop them on
# SQLite; PostgreSQL named it itself.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _unique_name_constraint() -> str:
    sqlite = op.get_bind().dialect.name == "sqlite"
    return "uq_containers_unique_name" if sqlite else "containers_unique_name_key"


def upgrade() -> None:
    op.create_table(
        "stacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("goal", sa.String(length=16), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("deployed_datetime", sa.DateTime(), nullable=True),
        sa.Column("destroyed_datetime", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    op.create_index("ix_stacks_owner_order", "stacks", ["owner_id", "id"])
    op.create_index("ix_stacks_owner_name", "stacks", ["owner_id", "name"])
    op.create_table(
        "services",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("stack_id", sa.Integer(), sa.ForeignKey("stacks.id"), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("unique_name", sa.String(length=300), nullable=False),
        sa.Column("image_name", sa.String(length=512), nullable=False),
        sa.Column("target_num_containers", sa.Integer(), nullable=False),
        sa.Column("deployment_strategy", sa.String(length=32), nullable=False),
        sa.Column("autoreplace", sa.String(length=16), nullable=False),
        sa.Column("sequential_deployment", sa.Boolean(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("linked_to_service", sa.JSON(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("goal", sa.String(length=16), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("synchronized", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("deployed_datetime", sa.DateTime(), nullable=True),
        sa.Column("started_datetime", sa.DateTime(), nullable=True),
        sa.Column("stopped_datetime", sa.DateTime(), nullable=True),
        sa.Column("destroyed_datetime", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    op.create_index("ix_services_owner_order", "services", ["owner_id", "id"])
    op.create_index("ix_services_owner_name", "services", ["owner_id", "name"])
    op.create_index("ix_services_stack", "services", ["stack_id"])
    op.create_index(
        "ux_services_owner_unique_name",
        "services",
        ["owner_id", "unique_name"],
        unique=True,
        sqlite_where=LIVE_GOAL,
        postgresql_where=LIVE_GOAL,
    )
    with op.batch_alter_table("containers", naming_convention=NAMING) as batch:
        batch.drop_constraint(_unique_name_constraint(), type_="unique")
        batch.add_column(sa.Column("service_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("service_index", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("generation", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(
            sa.Column("network", sa.String(length=64), server_default=sa.text("''"), nullable=False)
        )
        batch.add_column(
            sa.Column("network_aliases", sa.JSON(), server_default="[]", nullable=False)
        )
        batch.create_foreign_key("fk_containers_service_id", "services", ["service_id"], ["id"])
        batch.create_index("ix_containers_owner_unique_name", ["owner_id", "unique_name"])
        batch.create_index("ix_containers_service", ["service_id", "service_index"])
    with op.batch_alter_table("actions") as batch:
        batch.alter_column("container_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("service_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("stack_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_actions_service_id", "services", ["service_id"], ["id"])
        batch.create_foreign_key("fk_actions_stack_id", "stacks", ["stack_id"], ["id"])
        batch.create_index("ix_actions_service_id", ["service_id"])
        batch.create_index("ix_actions_stack_id", ["stack_id"])


def downgrade() -> None:
    op.execute("DELETE FROM actions WHERE container_id IS NULL")
    with op.batch_alter_table("actions") as batch:
        batch.drop_index("ix_actions_stack_id")
        batch.drop_index("ix_actions_service_id")
        batch.drop_constraint("fk_actions_stack_id", type_="foreignkey")
        batch.drop_constraint("fk_actions_service_id", type_="foreignkey")
        batch.drop_column("stack_id")
        batch.drop_column("service_id")
        batch.alter_column("container_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("containers") as batch:
        batch.drop_index("ix_containers_service")
        batch.drop_index("ix_containers_owner_unique_name")
        batch.drop_constraint("fk_containers_service_id", type_="foreignkey")
        batch.drop_column("network_aliases")
        batch.drop_column("network")
        batch.drop_column("generation")
        batch.drop_column("service_index")
        batch.drop_column("service_id")
        batch.create_unique_constraint(_unique_name_constraint(), ["unique_name"])
    op.drop_table("services")
    op.drop_table("stacks")
