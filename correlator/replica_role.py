"""serve's view of its replica's role. The engine process runs for the leadership (it holds the
lock's session); serve reads the leadership row every POLL_SECONDS and counts its replica the
leader while the row's holder is its own engine process. A replica whose engine died, or was cut
off and replaced, is a follower as soon as the row names another holder."""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from sqlalchemy import select
from sqlalchemy.engine import Engine

from correlator.store.leadership import ENGINE, ReplicaStatus, Role, holder_id
from correlator.store.schema import leadership

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5


class ReplicaRole:
    def __init__(self, engine_pid: Callable[[], int | None], on_change: Callable[[ReplicaStatus], None]):
        """`engine_pid`: this replica's engine process (None while it is not running)."""
        self._engine_pid, self._on_change = engine_pid, on_change
        self.status = ReplicaStatus(Role.FOLLOWER)

    def read(self, database: Engine) -> None:
        with database.connect() as connection:
            row = connection.execute(select(leadership.c.epoch, leadership.c.holder)
                                     .where(leadership.c.name == ENGINE)).first()
        pid = self._engine_pid()
        leads = row is not None and pid is not None and row.holder == holder_id(pid)
        status = ReplicaStatus(Role.LEADER, row.epoch) if leads else ReplicaStatus(Role.FOLLOWER)
        if status != self.status:
            self.status = status
            log.info("replica role changed", extra=status.document())
            self._on_change(status)

    async def watch(self, database: Engine) -> None:
        while True:
            try:
                await asyncio.to_thread(self.read, database)
            except Exception as error:  # task boundary: the store may be down; the role stays as last read
                log.warning("replica role not read", extra={"error": str(error)})
            await asyncio.sleep(POLL_SECONDS)
