"""import sources: URL and REST sources of imports, with their incremental cursors

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from loadbay.db import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_sources",
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=True),
        sa.Column("config", sa.Text(), nullable=True),
        sa.Column("shown", sa.Text(), nullable=False),
        sa.Column("cursor_from", sa.Text(), nullable=True),
        sa.Column("cursor_to", sa.Text(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("bytes_fetched", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["import_id"], ["imports.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("import_id"),
    )
    with op.batch_alter_table("import_sources", schema=None) as batch_op:
        batch_op.create_index(
            "ix_import_sources_key_created", ["source_key", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("import_sources", schema=None) as batch_op:
        batch_op.drop_index("ix_import_sources_key_created")

    op.drop_table("import_sources")
