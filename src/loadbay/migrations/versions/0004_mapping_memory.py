"""mapping memory

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from loadbay.db import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mapping_memory",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("schema_name", sa.String(length=63), nullable=False),
        sa.Column("header_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("normalised_headers", sa.Text(), nullable=False),
        sa.Column("mapping", sa.Text(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schema_name", "header_fingerprint"),
    )
    with op.batch_alter_table("mapping_memory", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mapping_memory_schema_name"), ["schema_name"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("mapping_memory", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mapping_memory_schema_name"))

    op.drop_table("mapping_memory")
