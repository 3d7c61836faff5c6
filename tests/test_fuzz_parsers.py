"""Fuzzing the parsers with hypothesis: any input gives alerts or a PayloadError, never another exception;
what they accept is what the store can keep; valid alerts come out as they went in.
Derandomized and bounded, so CI runs the same cases each time in seconds."""

import random
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from correlator.domain import AlertStatus, PayloadError
from correlator.ingest.fingerprint import fingerprint
from correlator.ingest.generic import FieldMapping
from correlator.ingest.normalize import EARLIEST_TIME, LATEST_TIME, IngestPolicy, ParsedAlerts
from correlator.ingest.sources import parsers
from tests.fuzz_inputs import bodies, captures, encode, json_values, mutate, valid_alerts

NOW = datetime(2026, 11, 23, 4, 30, tzinfo=timezone.utc)
# A mapping that reads nested fields and epoch times, as a user's webhook mapping would.
MAPPING = FieldMapping(alerts="$.events", labels="tags", label_fields={"host": "source.host"},
                       starts_at="ts", status="state", status_values={"PROBLEM": "firing", "OK": "resolved"})
PARSERS = parsers({"mapped": MAPPING})
SOURCES = sorted(PARSERS)
CAPTURES = captures()
FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def parse(source: str, body: bytes) -> ParsedAlerts | None:
    """The parse result, None for a PayloadError; any other exception fails the test."""
    try:
        parsed = PARSERS[source](body, NOW, IngestPolicy())
    except PayloadError as error:
        assert error.details and all(d.path for d in error.details), error.details
        return None
    for alert in parsed.alerts:
        assert_storable(alert)
    return parsed


def assert_storable(alert) -> None:
    """What the store and the engine rely on: UTC times in range, in order; no NUL; non-empty labels."""
    assert alert.labels and all(name and value for name, value in alert.labels.items())
    for time in (alert.starts_at, alert.ends_at):
        assert time is None or (time.tzinfo is timezone.utc and EARLIEST_TIME <= time <= LATEST_TIME)
    assert alert.ends_at is None or alert.ends_at >= alert.starts_at
    texts = [*alert.labels.items(), *alert.annotations.items(), (alert.generator_url,)]
    assert not any("\x00" in text for pair in texts for text in pair)


@pytest.mark.parametrize("source", SOURCES)
@FUZZ
@given(body=st.binary(max_size=200))
def test_any_bytes_give_alerts_or_a_payload_error(source, body):
    parse(source, body)


@pytest.mark.parametrize("source", SOURCES)
@FUZZ
@given(value=json_values())
def test_any_json_value_gives_alerts_or_a_payload_error(source, value):
    parse(source, encode(value))


@pytest.mark.parametrize("source", ["alertmanager", "prometheus", "generic"])
@settings(FUZZ, max_examples=40)
@given(value=st.data())
def test_alert_shaped_bodies_with_hostile_fields_give_alerts_or_a_payload_error(source, value):
    parse(source, encode(value.draw(bodies(source))))


@pytest.mark.parametrize("source", ["alertmanager", "prometheus", "generic"])
@FUZZ
@given(seed=st.integers(0, 2**32))
def test_mutated_captures_give_alerts_or_a_payload_error(source, seed):
    rng = random.Random(seed)
    parse(source, mutate(rng.choice(CAPTURES[source]), rng))


@settings(FUZZ, max_examples=40)
@given(alerts=st.lists(valid_alerts(), min_size=1, max_size=3))
def test_valid_webhook_alerts_round_trip(alerts):
    parsed = parse("alertmanager", encode({"version": "4", "alerts": alerts}))
    assert parsed is not None and parsed.errors == []
    for sent, got in zip(alerts, parsed.alerts, strict=True):
        assert got.labels == sent["labels"] and got.annotations == sent["annotations"]
        assert got.fingerprint == fingerprint(sent["labels"])
        assert got.starts_at == datetime.fromisoformat(sent["startsAt"])
        assert got.status is AlertStatus(sent["status"])
        if got.status is AlertStatus.RESOLVED:
            assert got.ends_at == datetime.fromisoformat(sent["endsAt"])
        assert got.generator_url == sent["generatorURL"]


@settings(FUZZ, max_examples=40)
@given(alerts=st.lists(valid_alerts(), min_size=1, max_size=3))
def test_valid_alerts_parse_alike_from_the_v2_api_and_the_generic_format(alerts):
    postable = [{key: alert[key] for key in ("labels", "annotations", "startsAt", "generatorURL")}
                for alert in alerts]
    from_api = parse("prometheus", encode(postable))
    from_generic = parse("generic", encode({"alerts": postable}))
    assert from_api is not None and from_generic is not None
    assert [(a.fingerprint, a.starts_at, a.ends_at, a.labels) for a in from_api.alerts] == \
        [(a.fingerprint, a.starts_at, a.ends_at, a.labels) for a in from_generic.alerts]
