"""The SQL database: a sync SQLAlchemy engine and session factory.

Migrations run once, by whoever starts first in a deployment: ``tandem serve`` (before it starts
its workers), a control plane opening the database, or ``tandem migrate``. Control planes starting
together on PostgreSQL take turns (an advisory lock). Workers never migrate: they check that the
schema is current and refuse to start otherwise (:class:`SchemaNotCurrentError`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK = 7_246_001
"""PostgreSQL advisory lock key held while migrating."""


class SchemaNotCurrentError(RuntimeError):
    """The database's schema is not at the latest migration (and this process does not migrate)."""


class Database:
    """A database URL's engine and session factory; open it with :meth:`Database.open`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Database:
        """Connect to ``url`` and bring its schema to the latest migration; without ``migrate``,
        raise :class:`SchemaNotCurrentError` unless it is there already."""
        engine = create_database_engine(url)
        try:
            if migrate:
                _run_migrations(engine)
            else:
                _check_current(engine, url)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """An ORM session inside a transaction, committed on success, rolled back on error."""
        with self._sessions.begin() as session:
            yield session

    def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def create_database_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get their folder created, WAL and cross-thread use."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def upgrade(url: str) -> None:
    """Run ``alembic upgrade head`` against ``url``."""
    engine = create_database_engine(url)
    try:
        _run_migrations(engine)
    finally:
        engine.dispose()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _run_migrations(engine: Engine) -> None:
    config = _alembic_config()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":  # SQLite: BEGIN IMMEDIATE already serialises this
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _check_current(engine: Engine, url: str) -> None:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current != head:
        raise SchemaNotCurrentError(
            f"the database {make_url(url).render_as_string()} is at migration {current or 'none'}, not {head}:"
            " start a control plane (tandem serve) or run `tandem migrate` first"
        )


def _configure_sqlite(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    """WAL, and transactions begun by SQLAlchemy (see :func:`_begin_immediate`), not by pysqlite."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    """Every SQLite transaction takes the write lock at once (SQLAlchemy's documented recipe):
    SQLite ignores ``SELECT ... FOR UPDATE``, so without it two processes could both read a job as
    pending and both claim it. Transactions are short; a waiting one retries for ``timeout`` s."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")
