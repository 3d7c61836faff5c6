"""Tables. Times are integer microseconds since the epoch (`*_us`): exact as a unique key, the
same on SQLite and PostgreSQL, and cheap on the raw-DBAPI insert path."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import (BigInteger, Boolean, Column, Index, Integer, LargeBinary, MetaData, String, Table,
                        Text, UniqueConstraint)

from correlator.domain import MAX_NAME_LENGTH, MAX_SOURCE_LENGTH

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
    Column("source", String(MAX_SOURCE_LENGTH), nullable=False),
    Column("first_seen_us", BigInteger, nullable=False),
    Column("last_seen_us", BigInteger, nullable=False),
    Column("notifications", Integer, nullable=False),
    Column("flapping", Boolean, nullable=False),
    UniqueConstraint("fingerprint", "starts_at_us"),  # one firing episode
    Index(None, "ends_at_us"),  # history retention
)

notifications = Table(
    "notifications", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("received_at_us", BigInteger, nullable=False),
    Column("source", String(MAX_SOURCE_LENGTH), nullable=False),
    Column("alert_count", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),
    # sha256 of source and body (PostgreSQL; NULL on SQLite): replicas store a notification another
    # one just stored only once (correlator/store/notification_log.py).
    Column("digest", LargeBinary, nullable=True),
    # The alerts ingest parsed from the body (store/notification_alerts.py), what the engine reads;
    # NULL in rows stored before revision 0006, whose bodies the engine parses.
    Column("alerts", LargeBinary, nullable=True),
    Index(None, "received_at_us"),  # retention
    Index(None, "digest"),
)


incidents = Table(
    "incidents", metadata,
    Column("id", String(20), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("priority", String(2), nullable=False),
    Column("category", String(16), nullable=True),
    Column("team", String(MAX_NAME_LENGTH), nullable=False),
    Column("opened_at_us", BigInteger, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
    Column("resolved_at_us", BigInteger, nullable=True),
    Column("group_key", Text, nullable=False),
    Column("header", Text, nullable=False),  # JSON: every other field (title, explanations, ...)
    Index(None, "state", "opened_at_us"),
    Index(None, "state", "updated_at_us"),  # the recently closed, whose alerts' flaps a restore counts
    Index(None, "opened_at_us", "id"),  # the newest of several states (the board's resolved and closed)
)

incident_members = Table(
    "incident_members", metadata,
    Column("incident_id", String(20), primary_key=True),
    Column("fingerprint", String(16), primary_key=True),
    Column("starts_at_us", BigInteger, primary_key=True),
    Column("status", String(8), nullable=False),
    Column("document", Text, nullable=False),  # JSON: labels, annotations, why, services, times
    Index(None, "fingerprint", "starts_at_us"),  # an alert's incidents (its history page)
)

incident_events = Table(
    "incident_events", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", String(20), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("actor", String(MAX_NAME_LENGTH), nullable=False),
    Column("detail", Text, nullable=False),
    Index(None, "incident_id", "id"),
)

problems = Table(
    "problems", metadata,
    Column("id", String(20), primary_key=True),
    Column("signature", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("opened_at_us", BigInteger, nullable=False),
    Column("last_seen_us", BigInteger, nullable=False),
    Column("incident_ids", Text, nullable=False),  # JSON list
)

# The engine's progress: `watermark` is the last raw notification it processed, committed in the
# same transaction as the incidents that notification changed.
engine_state = Table(
    "engine_state", metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)


# Who runs the engine among replicas (correlator/store/leadership.py): `epoch` grows with each new
# leader, and every engine save checks it in its transaction, so a former leader cannot write.
leadership = Table(
    "leadership", metadata,
    Column("name", String(32), primary_key=True),
    Column("epoch", BigInteger, nullable=False),
    Column("holder", Text, nullable=False),  # host and PID of the leader, for people
    Column("acquired_at_us", BigInteger, nullable=False),
)


# What the engine learned of the estate (correlator/learning/state.py): one JSON document per part,
# saved in the engine step's transaction every `learning.save_every` of event time.
learned_state = Table(
    "learned_state", metadata,
    Column("name", String(32), primary_key=True),
    Column("saved_at_us", BigInteger, nullable=False),  # event time of the snapshot
    Column("value", LargeBinary, nullable=False),
)

# What the engine made of each operator action in the log (a `notifications` row of source
# "action"): saved in the same transaction as the step that applied it, so an action is applied
# exactly once and its result is there as soon as the watermark has passed it.
action_results = Table(
    "action_results", metadata,
    Column("notification_id", BigInteger, primary_key=True),
    Column("outcome", String(8), nullable=False),  # applied | refused
    Column("status", Integer, nullable=False),  # the HTTP status the API answers with
    Column("result", LargeBinary, nullable=False),  # JSON: the incident's detail, or the error
)


# What the engine process publishes for serve to read (the metrics text, candidates, the rules in
# force) and what serve asks of it (a rule reload): one row per name, replaced whole.
engine_exchange = Table(
    "engine_exchange", metadata,
    Column("name", String(32), primary_key=True),
    Column("updated_at_us", BigInteger, nullable=False),
    Column("value", LargeBinary, nullable=False),
)


# Forwarding (correlator/forward/): each incident change a destination should hear about, written in
# the transaction of the engine step that saved the change, and drained in order per (incident,
# destination) by the delivery worker on the leader. `state`: pending, done or dead.
outbox = Table(
    "outbox", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", String(20), nullable=False),
    Column("destination", String(MAX_NAME_LENGTH), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("payload", LargeBinary, nullable=False),  # JSON: the IncidentChange
    Column("state", String(8), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_us", BigInteger, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until_us", BigInteger, nullable=True),
    # The local record of a create in flight: set when a create may have been sent and its outcome
    # is unknown, cleared with the delivered outcome (correlator/forward/contract.py Delivery).
    Column("create_sent_us", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Column("done_us", BigInteger, nullable=True),
    Index(None, "state", "destination", "next_attempt_us"),
    Index(None, "incident_id", "destination", "id"),
)

# Where each incident lives in each destination it was routed to: the idempotency key, stored when
# the first change is planned (before any call), and the remote reference once a delivery returned it.
forward_refs = Table(
    "forward_refs", metadata,
    Column("incident_id", String(20), primary_key=True),
    Column("destination", String(MAX_NAME_LENGTH), primary_key=True),
    Column("idempotency_key", String(64), nullable=False),
    Column("remote_key", Text, nullable=True),
    Column("remote_url", Text, nullable=True),
    Column("remote_extra", Text, nullable=True),  # JSON object
    Column("linked_us", BigInteger, nullable=True),
)

# Inbound changes already applied, by the destination's own event id: a change delivered twice is
# applied once.
inbound_events = Table(
    "inbound_events", metadata,
    Column("destination", String(MAX_NAME_LENGTH), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("received_us", BigInteger, nullable=False),
)


def to_us(value: datetime) -> int:
    return (value - _EPOCH) // _MICROSECOND


def from_us(value: int) -> datetime:
    return datetime.fromtimestamp(value // 1_000_000, timezone.utc).replace(microsecond=value % 1_000_000)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
