"""Helpers for tests of the engine service on a real store: notifications stored as ingest stores
them, a fake clock, and a store that refuses writes for real (a trigger that raises)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import select, text
from sqlalchemy.engine import Engine as DatabaseEngine

from correlator import wiring
from correlator.config import SlaConfig, parse_config
from correlator.domain import Source
from correlator.engine.core import Engine, EngineSettings
from correlator.engine.views import incident_replay_line
from correlator.engine_service import EngineService
from correlator.incident_metrics import IncidentMetrics
from correlator.ingest.recording import recording_line
from correlator.ingest.normalize import IngestPolicy
from correlator.ingest.sources import parsers
from correlator.metrics import Metrics
from correlator.offline.replay import replay
from correlator.store import database
from correlator.store.action_log import LoggedAction
from correlator.store.notification_alerts import encode_alerts
from correlator.store.schema import incident_events, notifications, to_us
from tests.engine_scenarios import T0, at, rules_from

GROUP_BY_CLUSTER = {"name": "by-cluster", "kind": "group", "matchers": ['cluster!=""'], "group_by": ["cluster"],
                    "window": "1h", "max_duration": "1d"}


class Clock:
    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def move(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def open_store(url: str) -> DatabaseEngine:
    store = database.create_engine(url)
    database.upgrade(store)
    return store


def store_notification(store: DatabaseEngine, count: int, received_at: datetime, first: int = 0,
                       cluster: str = "eu") -> int:
    """An Alertmanager webhook of `count` distinct firing alerts, stored as ingest stores it."""
    alerts = [{"status": "firing", "labels": {"alertname": "PodCrash", "pod": f"pod-{first + i}", "cluster": cluster},
               "annotations": {}, "startsAt": "2026-11-23T03:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}
              for i in range(count)]
    body = msgspec.json.encode({"version": "4", "status": "firing", "receiver": "correlator", "groupLabels": {},
                                "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
                                "groupKey": "{}", "alerts": alerts})
    with store.begin() as connection:
        return connection.execute(notifications.insert().values(
            stored_row("alertmanager", received_at, body))).inserted_primary_key[0]


def stored_row(source: str, received_at: datetime, body: bytes, policy: IngestPolicy = IngestPolicy()) -> dict:
    """A notification as ingest stores it: the body and the alerts parsed from it."""
    alerts = parsers({})[source](body, received_at, policy).alerts
    return {"received_at_us": to_us(received_at), "source": source, "alert_count": len(alerts), "body": body,
            "alerts": encode_alerts(alerts)}


def store_action(store: DatabaseEngine, incident_id: str, action: str, body: dict, received_at: datetime,
                 actor: str = "alice") -> int:
    """An operator action appended to the log as the API appends it; returns its number."""
    logged = LoggedAction(incident_id=incident_id, action=action, body=body, actor=actor, requested_at=received_at)
    row = {"received_at_us": to_us(received_at), "source": Source.ACTION, "alert_count": 0,
           "body": msgspec.json.encode(logged)}
    with store.begin() as connection:
        return connection.execute(notifications.insert().values(row)).inserted_primary_key[0]


def make_service(store: DatabaseEngine, tmp_path, clock: Clock, step_alerts: int = 100,
                 metrics: Metrics | None = None) -> EngineService:
    """An engine service grouping alerts by cluster, observed by incident metrics on `metrics`."""
    observer = IncidentMetrics(metrics, SlaConfig()) if metrics is not None else None
    return EngineService(store, rules_from(tmp_path, GROUP_BY_CLUSTER), EngineSettings(), parsers({}),
                         wiring.ingest_policy(parse_config({}, environ={})), clock=clock, observer=observer,
                         step_alerts=step_alerts)


@contextmanager
def refusing(store: DatabaseEngine, kind: str | None = None):
    """Inside: the store refuses new timeline events (of `kind`, or any), so saves fail for real."""
    when = f"NEW.kind = '{kind}'" if kind else "1 = 1"
    with store.begin() as connection:
        if store.dialect.name == "sqlite":
            connection.execute(text(f"CREATE TRIGGER refuse BEFORE INSERT ON incident_events WHEN {when} "
                                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"))
        else:
            connection.execute(text("CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                                    "RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql"))
            connection.execute(text(f"CREATE TRIGGER refuse BEFORE INSERT ON incident_events FOR EACH ROW "
                                    f"WHEN ({when}) EXECUTE FUNCTION refuse()"))
    try:
        yield
    finally:
        with store.begin() as connection:
            if store.dialect.name == "sqlite":
                connection.execute(text("DROP TRIGGER refuse"))
            else:
                connection.execute(text("DROP TRIGGER refuse ON incident_events"))
                connection.execute(text("DROP FUNCTION refuse()"))


def joined_per_alert(store: DatabaseEngine) -> dict[str, int]:
    """How many times each alert (fingerprint) joined an incident, from the stored timelines."""
    with store.connect() as connection:
        details = connection.execute(select(incident_events.c.detail)
                                     .where(incident_events.c.kind == "alert_joined")).scalars().all()
    counts: dict[str, int] = {}
    for detail in details:
        fingerprint = msgspec.json.decode(detail)["fingerprint"]
        counts[fingerprint] = counts.get(fingerprint, 0) + 1
    return counts



def incident_lines(engine: Engine) -> list:
    """Every incident as replay writes it, with its timeline: what replay and a live engine must agree on."""
    return [(incident_replay_line(i), [(e.at, e.kind, e.detail) for e in i.timeline])
            for i in sorted(engine.incidents.values(), key=lambda i: i.id)]


def replayed_engine(tmp_path, rules, settings: EngineSettings, policy,
                    traffic: list[tuple[float, str, bytes]]) -> Engine:
    """The same traffic recorded as `serve --record` writes it, then run through `replay`."""
    recording = tmp_path / "recording.jsonl"
    recording.write_bytes(b"".join(recording_line(at(t), source, body) for t, source, body in traffic))
    engine = Engine(rules, settings)
    replay(engine, recording, parsers({}), policy)
    return engine


async def live_engine(tmp_path, rules, settings: EngineSettings, policy, restart_after: float | None,
                      traffic: list[tuple[float, str, bytes]]) -> Engine:
    """The traffic ((seconds from T0, source, body) in order) through engine services on a store,
    ticking while they wait for input; with `restart_after`, the first service stops then and a
    second one restores from the store."""
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    clock = Clock(at(0))
    service = EngineService(store, rules, settings, parsers({}), policy, clock=clock)
    await service.restore()
    for t, source, body in traffic:
        while clock.now < at(t):
            clock.now = min(clock.now + timedelta(seconds=45), at(t))
            await service.run_step()
            if restart_after is not None and clock.now >= at(restart_after):
                restart_after = None
                service = EngineService(store, rules, settings, parsers({}), policy, clock=clock)
                await service.restore()
        with store.begin() as connection:
            connection.execute(notifications.insert().values(stored_row(source, at(t), body, policy)))
        await service.run_step()
    store.dispose()
    return service.engine


MAX_STEPS = 30


async def drain(service) -> int:
    """Steps until nothing is pending (the service's own loop may be stepping too: a step that
    found its batch taken says more is pending); returns how many."""
    for steps in range(1, MAX_STEPS + 1):
        if not await service.run_step():
            return steps
    raise AssertionError(f"still pending after {MAX_STEPS} steps")
