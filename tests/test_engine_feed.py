"""The engine reads each notification as ingest read it: the alerts parsed at receive time are
stored beside the body, and the engine decodes those instead of parsing the body again."""

from __future__ import annotations

import msgspec
import pytest

from correlator import wiring
from correlator.config import parse_config
from correlator.domain import RawNotification
from correlator.engine.core import EngineSettings
from correlator.engine_service import EngineService
from correlator.ingest.generic import FieldMapping
from correlator.ingest.sources import parsers
from correlator.store.notification_alerts import decode_alerts, encode_alerts
from correlator.store.schema import notifications, to_us
from correlator.store.writer import GroupCommitWriter
from tests.conftest import capture
from tests.engine_scenarios import T0, rules_from
from tests.engine_store import Clock, open_store

POLICY = wiring.ingest_policy(parse_config({}, environ={}))
# A sender's alert: which of its fields is the instance is the mapping's to say.
ACME_BODY = msgspec.json.encode({"items": [{"tags": {"alertname": "DiskFull"}, "host": "db-1", "node": "rack-7",
                                            "status": "firing", "startsAt": "2026-11-23T03:00:00Z"}]})
ACME_AT_RECEIVE = FieldMapping(alerts="$.items", labels="tags", label_fields={"instance": "host"})
ACME_CHANGED_SINCE = FieldMapping(alerts="$.items", labels="tags", label_fields={"instance": "node"})


@pytest.fixture
def store(db_url):
    store = open_store(db_url)
    yield store
    store.dispose()


async def store_as_ingest(store, source: str, mapping: FieldMapping, body: bytes) -> None:
    """`body` parsed under `mapping` and written by the group-commit writer, as a receiver does."""
    writer = GroupCommitWriter(store, clock=Clock(T0))
    writer.start()
    try:
        parsed = parsers({source: mapping})[source](body, T0, POLICY)
        await writer.write(parsed.alerts, RawNotification(source, T0, body))
    finally:
        writer.close()


async def engine_after_one_step(store, tmp_path, mappings: dict[str, FieldMapping]):
    service = EngineService(store, rules_from(tmp_path), EngineSettings(), parsers(mappings), POLICY, clock=Clock())
    await service.restore()
    await service.run_step()
    assert service.progress.watermark == 1
    return service.engine


@pytest.mark.parametrize("name", ["alertmanager-0.25/webhook-01.json", "alertmanager-0.25/webhook-05.json"])
def test_the_alerts_stored_with_a_notification_decode_to_the_alerts_ingest_parsed(name):
    parsed = parsers({})["alertmanager"](capture(name), T0, POLICY).alerts
    assert parsed
    assert decode_alerts(encode_alerts(parsed)) == list(parsed)


async def test_the_engine_sees_a_notification_as_ingest_parsed_it_though_the_mapping_changed_since(store, tmp_path):
    await store_as_ingest(store, "acme", ACME_AT_RECEIVE, ACME_BODY)
    engine = await engine_after_one_step(store, tmp_path, {"acme": ACME_CHANGED_SINCE})
    [incident] = engine.incidents.values()
    [member] = incident.members.values()
    assert member.labels == {"alertname": "DiskFull", "instance": "db-1"}


async def test_a_notification_stored_before_its_alerts_were_is_parsed_by_the_engine(store, tmp_path):
    with store.begin() as connection:  # a row of a store before revision 0004: the body alone
        connection.execute(notifications.insert().values(received_at_us=to_us(T0), source="acme", alert_count=1,
                                                         body=ACME_BODY))
    engine = await engine_after_one_step(store, tmp_path, {"acme": ACME_CHANGED_SINCE})
    [incident] = engine.incidents.values()
    [member] = incident.members.values()
    assert member.labels == {"alertname": "DiskFull", "instance": "rack-7"}
