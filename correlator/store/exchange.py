"""The rows through which the engine process and serve talk: one value per name, replaced whole.
The engine publishes its metrics text, candidates and the rules in force; serve writes reload
requests. Each write is one short transaction, so ingest's commits wait for it at most briefly.
Among replicas only the leader publishes: its writes check its leadership epoch, so a former
leader's late write is refused (Fenced) and cannot overwrite the new leader's."""

from __future__ import annotations

import time

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from correlator.store.leadership import check_epoch
from correlator.store.schema import engine_exchange, engine_state, notifications

METRICS = "metrics"  # the engine process's registry as Prometheus text
CANDIDATES = "candidates"  # JSON: the alerts group rules hold below min_alerts
RULES = "rules"  # JSON: the rules in force and the last reload's outcome
RELOAD_REQUEST = "reload_request"  # JSON: {"id": ...}, a reload serve asks for


def put(database: Engine, name: str, value: bytes, epoch: int | None = None) -> None:
    """`epoch`: the writer's leadership epoch, checked in the write's transaction (None: no replicas)."""
    insert = postgresql.insert if database.dialect.name == "postgresql" else sqlite.insert
    statement = insert(engine_exchange).values(name=name, updated_at_us=time.time_ns() // 1000, value=value)
    statement = statement.on_conflict_do_update(index_elements=[engine_exchange.c.name],
                                                set_={"updated_at_us": statement.excluded.updated_at_us,
                                                      "value": statement.excluded.value})
    with database.begin() as connection:
        if epoch is not None:
            check_epoch(connection, epoch)
        connection.execute(statement)


def get(database: Engine, *names: str) -> dict[str, bytes]:
    with database.connect() as connection:
        rows = connection.execute(select(engine_exchange.c.name, engine_exchange.c.value)
                                  .where(engine_exchange.c.name.in_(names))).all()
    return {name: bytes(value) for name, value in rows}


def oldest_unprocessed_us(database: Engine) -> int | None:
    """When the oldest notification the engine has not processed whole was received (None: none)."""
    watermark = select(func.coalesce(func.max(engine_state.c.value), 0)).where(
        engine_state.c.name == "watermark").scalar_subquery()
    with database.connect() as connection:
        return connection.execute(select(notifications.c.received_at_us).where(notifications.c.id > watermark)
                                  .order_by(notifications.c.id).limit(1)).scalar()
