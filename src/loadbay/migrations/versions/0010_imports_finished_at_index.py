"""imports finished_at index: the dashboard's rows imported per window

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # GET /api/stats sums the rows of imports finished in the last 1/5/15 minutes; without
    # the index that reads every import ever made.
    op.create_index("ix_imports_finished_at", "imports", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_imports_finished_at", table_name="imports")
