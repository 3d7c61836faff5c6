"""Tables. Times are integer microseconds since the epoch (`*_us`): exact as a unique key, the
same on SQLite and PostgreSQL, and cheap on the raw-DBAPI insert path."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import (BigInteger, Boolean, Column, Index, Integer, LargeBinary, MetaData, String, Table,
                        Text, UniqueConstraint)

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
})

# SQLite only auto-increments an INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer, "sqlite")

alerts = Table(
    "alerts", metadata,
    # Monotonic: the order in which episodes were first stored.
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("fingerprint", String(16), nullable=False),
    Column("starts_at_us", BigInteger, nullable=False),
    Column("ends_at_us", BigInteger, nullable=True),
    Column("status", String(8), nullable=False),
    Column("labels", Text, nullable=False),  # JSON object
    Column("annotations", Text, nullable=False),  # JSON object
    Column("generator_url", Text, nullable=False),
    Column("source", String(32), nullable=False),
    Column("first_seen_us", BigInteger, nullable=False),
    Column("last_seen_us", BigInteger, nullable=False),
    Column("notifications", Integer, nullable=False),
    Column("flapping", Boolean, nullable=False),
    UniqueConstraint("fingerprint", "starts_at_us"),  # one firing episode
)

notifications = Table(
    "notifications", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("received_at_us", BigInteger, nullable=False),
    Column("source", String(32), nullable=False),
    Column("alert_count", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Index(None, "received_at_us"),  # retention
)


def to_us(value: datetime) -> int:
    return (value - _EPOCH) // _MICROSECOND


def from_us(value: int) -> datetime:
    return datetime.fromtimestamp(value // 1_000_000, timezone.utc).replace(microsecond=value % 1_000_000)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
