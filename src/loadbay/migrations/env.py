"""Alembic environment: runs on the connection that ``loadbay.db.migrate`` hands over."""

from alembic import context

from loadbay.db import Base
from loadbay.models import load_all

load_all()
connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
