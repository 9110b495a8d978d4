"""Alembic environment: migrates the database named by the app's own settings.

``init_db`` hands in a connection that already holds the migration lock (``config.attributes``); the
``alembic`` command line builds its engine from ``sqlalchemy.url`` or, when unset, from the app's settings
(``DATABASE_URL`` / ``DB_PATH``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from db.base import Base
from db.session import create_db_engine, normalize_url, sqlite_foreign_keys_off

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=str(normalize_url(url)) if url else None,
        target_metadata=target_metadata,
        literal_binds=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_db_engine(config.get_main_option("sqlalchemy.url") or None)
    try:
        with engine.connect() as connection, sqlite_foreign_keys_off(connection):
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
