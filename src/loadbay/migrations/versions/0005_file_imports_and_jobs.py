"""file imports and jobs

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from loadbay.db import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_state_created_at", ["state", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "import_patches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("field", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["import_id"], ["imports.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("import_id", "row", "field"),
    )
    with op.batch_alter_table("import_patches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_import_patches_import_id"), ["import_id"], unique=False
        )

    op.create_table(
        "import_rows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("values", sa.Text(), nullable=False),
        sa.Column("kinds", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["import_id"], ["imports.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("import_id", "row"),
    )
    with op.batch_alter_table("import_rows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_import_rows_import_id"), ["import_id"], unique=False)

    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("upload_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("file_name", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("follow_up_of", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("options", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("detected", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("proposal", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("mapping", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("bytes_total", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("bytes_processed", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("rows_estimate", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("rows_per_second", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("eta_seconds", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(batch_op.f("ix_imports_upload_id"), ["upload_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_imports_upload_id"))
        batch_op.drop_column("cancel_requested")
        batch_op.drop_column("eta_seconds")
        batch_op.drop_column("rows_per_second")
        batch_op.drop_column("rows_estimate")
        batch_op.drop_column("bytes_processed")
        batch_op.drop_column("bytes_total")
        batch_op.drop_column("mapping")
        batch_op.drop_column("proposal")
        batch_op.drop_column("detected")
        batch_op.drop_column("options")
        batch_op.drop_column("follow_up_of")
        batch_op.drop_column("file_name")
        batch_op.drop_column("upload_id")

    with op.batch_alter_table("import_rows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_rows_import_id"))

    op.drop_table("import_rows")
    with op.batch_alter_table("import_patches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_patches_import_id"))

    op.drop_table("import_patches")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_subject_id"))
        batch_op.drop_index("ix_jobs_state_created_at")

    op.drop_table("jobs")
