"""Connecting to the store (SQLite by default, PostgreSQL in production) and migrating it."""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL, Engine, make_url

from correlator.store import StoreUnreachable

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


def normalise_url(url: str) -> URL:
    """`postgresql://` means psycopg 3 here (SQLAlchemy's own default driver is not installed)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_engine(url: str) -> Engine:
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            directory = Path(parsed.database).parent
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreUnreachable(parsed.render_as_string(), f"its directory {directory} cannot be made: "
                                                                  f"{error.strerror}") from None
        engine = sqlalchemy.create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sqlalchemy.create_engine(parsed, pool_pre_ping=True, pool_size=4, max_overflow=4)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers run beside the writer; synchronous=FULL makes every commit survive power loss,
    # which is what a 2xx promises.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def optimize(engine: Engine) -> None:
    """Refresh SQLite's table statistics where they are missing or stale (PRAGMA optimize, tens of
    milliseconds). Without them its planner reads the board's list of resolved and closed incidents
    through the state index and sorts every closed incident ever stored, each poll. PostgreSQL's
    autovacuum keeps its own statistics."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA optimize")


def upgrade(engine: Engine) -> str:
    """Apply every Alembic migration; returns the revision now in force. The first connection
    of every command: StoreUnreachable where it fails."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        connection = engine.connect()
    except sqlalchemy.exc.OperationalError as error:
        reason = str(error.orig if error.orig is not None else error).strip().splitlines()[0]
        raise StoreUnreachable(describe(engine), reason) from None
    with connection, connection.begin():
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        from alembic.runtime.migration import MigrationContext
        return MigrationContext.configure(connection).get_current_revision() or "base"


def describe(engine: Engine) -> str:
    """The URL to show in logs, password hidden."""
    return engine.url.render_as_string(hide_password=True)


def driver_sql(statement, engine: Engine) -> str:
    """An SQLAlchemy statement compiled once to the driver's SQL with named parameters, to run
    through the DBAPI's executemany without per-row bind processing (the hot paths)."""
    dialect = sqlite.dialect(paramstyle="named") if engine.dialect.name == "sqlite" else engine.dialect
    return str(statement.compile(dialect=dialect))
