"""The engine's input log, raw notifications, when several replicas append to it (PostgreSQL).

Two rules keep the log right for the engine, which reads `id > watermark`:

- **Ids in commit order.** A sequence hands out ids when rows are inserted, not when they commit:
  with two writers, id 11 can commit before id 10, and an engine that read 11 and moved its
  watermark there would never see 10. So every transaction that appends to the log first takes one
  transaction-scoped advisory lock (`lock_log`): appends take turns, and an id is committed before
  the next one is handed out.
- **A notification two replicas received is stored once.** Behind a load balancer, Alertmanager's
  retry after a lost answer, or a sender posting to every replica, brings the same body to two
  replicas. A notification whose digest (sha256 of source and body) matches one stored less than
  DEDUP_WINDOW apart is left out of the log; its alerts still count the delivery (`notifications`,
  last seen). The window is short on purpose: an identical body sent again later is news for alerts
  without endsAt (their end is receive time + ingest.resolve_timeout), so at least one copy per
  window is kept, and such an alert's end is at most DEDUP_WINDOW earlier than without the rule.

SQLite has one daemon and one writer: ids commit in order there, and every notification is kept.
"""

from __future__ import annotations

import hashlib
from typing import Any

# pg_advisory_xact_lock key of the log: arbitrary, fixed, distinct from the leadership key.
LOG_LOCK_KEY = 0x636F_7272_6C6F_6731  # "corrlog1"
DEDUP_WINDOW_US = 30_000_000


def digest(source: str, body: bytes) -> bytes:
    return hashlib.sha256(source.encode() + b"\n" + body).digest()


def lock_log(cursor) -> None:
    """Take the log's append lock until this transaction ends (PostgreSQL, DBAPI cursor). Anything
    that appends to the engine's input log must take it before inserting."""
    cursor.execute("SELECT pg_advisory_xact_lock(%(key)s)", {"key": LOG_LOCK_KEY})


def append(cursor, dialect: str, insert_sql: str, rows: list[dict[str, Any]]) -> int:
    """Insert raw notification `rows` (with `digest`, `received_at_us`) in the cursor's transaction,
    under the rules above; returns how many were inserted. The lock is taken even for no rows: an
    append of another kind (an operator action) follows in the same transaction."""
    if dialect == "postgresql":
        lock_log(cursor)
        rows = _new(cursor, rows) if rows else rows
    if rows:
        cursor.executemany(insert_sql, rows)
    return len(rows)


def _new(cursor, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` less those stored (or earlier in `rows`) with the same digest within the window."""
    times = [row["received_at_us"] for row in rows]
    cursor.execute("SELECT digest, received_at_us FROM notifications WHERE digest = ANY(%(digests)s)"
                   " AND received_at_us BETWEEN %(low)s AND %(high)s",
                   {"digests": list({row["digest"] for row in rows}), "low": min(times) - DEDUP_WINDOW_US,
                    "high": max(times) + DEDUP_WINDOW_US})
    seen: dict[bytes, list[int]] = {}
    for stored_digest, received_at_us in cursor.fetchall():
        seen.setdefault(bytes(stored_digest), []).append(received_at_us)
    kept = []
    for row in rows:
        stored = seen.setdefault(row["digest"], [])
        if all(abs(row["received_at_us"] - other) >= DEDUP_WINDOW_US for other in stored):
            kept.append(row)
            stored.append(row["received_at_us"])
    return kept
