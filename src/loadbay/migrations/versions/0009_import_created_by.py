"""import created_by: who asked for each import

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Imports made before this revision have no recorded creator; they stay null.
    with op.batch_alter_table("imports") as batch:
        batch.add_column(sa.Column("created_by", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("imports") as batch:
        batch.drop_column("created_by")
