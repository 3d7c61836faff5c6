"""Parsing at the edge: the wire shapes of Alertmanager, Prometheus and generic senders."""

import json
from datetime import datetime, timedelta, timezone

import msgspec
import pytest

from correlator.domain import AlertStatus, PayloadError
from correlator.ingest.alertmanager import parse_alertmanager_webhook, parse_postable_alerts
from correlator.ingest.generic import FieldMapping, LabelList, parse_mapped
from correlator.ingest.normalize import AlertLimits, IngestPolicy
from correlator.units import Seconds
from tests.conftest import capture

NOW = datetime(2026, 11, 23, 4, 30, tzinfo=timezone.utc)
POLICY = IngestPolicy()


def webhook(*alerts, **envelope):
    return json.dumps({"version": "4", "status": "firing", "receiver": "corr", "groupKey": "{}:{}",
                       "alerts": list(alerts), **envelope}).encode()


def am_alert(**fields):
    return {"status": "firing", "labels": {"alertname": "X"}, "annotations": {},
            "startsAt": "2026-11-23T04:21:56Z", "endsAt": "0001-01-01T00:00:00Z", **fields}


def test_webhook_capture_parses_to_firing_and_resolved_alerts():
    parsed = parse_alertmanager_webhook(capture("alertmanager-0.25/webhook-04.json"), NOW, POLICY)
    assert parsed.errors == []
    by_instance = {a.labels["instance"]: a for a in parsed.alerts}
    assert by_instance["node1:9100"].status is AlertStatus.RESOLVED
    assert by_instance["node1:9100"].ends_at == datetime(2026, 11, 23, 4, 22, 1, tzinfo=timezone.utc)
    assert by_instance["node2:9100"].status is AlertStatus.FIRING
    assert by_instance["node2:9100"].fingerprint == "7a89719ae5094d2a"


def test_zero_ends_at_means_still_firing():
    [alert] = parse_alertmanager_webhook(webhook(am_alert()), NOW, POLICY).alerts
    assert alert.ends_at is None and alert.status is AlertStatus.FIRING


def test_nanosecond_and_offset_timestamps_become_utc_microseconds():
    [alert] = parse_alertmanager_webhook(webhook(am_alert(startsAt="2026-11-23T06:21:56.525541258+02:00")),
                                         NOW, POLICY).alerts
    assert alert.starts_at == datetime(2026, 11, 23, 4, 21, 56, 525541, tzinfo=timezone.utc)


def test_unknown_fields_of_newer_alertmanagers_are_ignored():
    body = webhook(am_alert(extra={"x": 1}), notification_reason="new alerts added",
                   routeLabels={"team": "db"}, truncatedAlerts=0)
    assert len(parse_alertmanager_webhook(body, NOW, POLICY).alerts) == 1


def test_missing_fingerprint_is_computed_as_alertmanager_does():
    [alert] = parse_alertmanager_webhook(webhook(am_alert(labels={
        "alertname": "HighCPU", "cluster": "prod-eu", "instance": "node1:9100", "severity": "critical"})),
        NOW, POLICY).alerts
    assert alert.fingerprint == "1686c8247a6f29cc"


def test_unsupported_webhook_version_names_the_field():
    with pytest.raises(PayloadError) as raised:
        parse_alertmanager_webhook(webhook(am_alert(), version="3"), NOW, POLICY)
    assert raised.value.details[0].path == "version"


@pytest.mark.parametrize("body, path, reason", [
    (b'{"version": "4", "alerts": [', "$", "truncated"),
    (json.dumps({"version": "4"}).encode(), "$", "missing required field `alerts`"),
    (json.dumps({"version": "4", "alerts": {}}).encode(), "alerts", "Expected `array`"),
    (json.dumps({"version": 4, "alerts": [am_alert(startsAt="yesterday")]}).encode(), "version", "Expected `str`"),
])
def test_structural_errors_reject_the_body_with_the_path(body, path, reason):
    with pytest.raises(PayloadError) as raised:
        parse_alertmanager_webhook(body, NOW, POLICY)
    [detail] = raised.value.details
    assert detail.path == path and reason in detail.reason


# These rejected the whole body until one bad alert stopped costing the good ones (Alertmanager
# never retries a 4xx, so the good alerts were lost).
@pytest.mark.parametrize("bad, path, reason", [
    (am_alert(labels={"a": 1}), "alerts[1].labels.a", "expected a string, got int"),
    (am_alert(status="pending"), "alerts[1].status", "Invalid enum value 'pending'"),
    (am_alert(startsAt="yesterday"), "alerts[1].startsAt", "Invalid RFC3339"),
    ({"status": "firing", "startsAt": "2026-11-23T04:21:56Z"}, "alerts[1]", "missing required field `labels`"),
    (7, "alerts[1]", "Expected `object`, got `int`"),
])
def test_an_alert_that_does_not_decode_is_rejected_alone(bad, path, reason):
    body = webhook(am_alert(labels={"alertname": "Good"}), bad, am_alert(labels={"alertname": "AlsoGood"}))
    parsed = parse_alertmanager_webhook(body, NOW, POLICY)
    assert [a.labels["alertname"] for a in parsed.alerts] == ["Good", "AlsoGood"]
    [error] = parsed.errors
    assert error.path == path and reason in error.reason


def test_a_v2_alert_that_does_not_decode_is_rejected_alone():
    body = b'[{"labels": {"alertname": "Good"}}, {"labels": {"alertname": "Bad"}, "startsAt": "soon"}]'
    parsed = parse_postable_alerts(body, NOW, POLICY)
    assert [a.labels["alertname"] for a in parsed.alerts] == ["Good"]
    assert [(e.path, e.reason.split(" ")[0]) for e in parsed.errors] == [("[1].startsAt", "Invalid")]


def test_invalid_alerts_are_reported_and_valid_ones_kept():
    body = webhook(am_alert(labels={"alertname": "ok"}), am_alert(labels={}),
                   am_alert(labels={"only": ""}), am_alert(endsAt="2026-11-23T04:00:00Z", status="resolved"))
    parsed = parse_alertmanager_webhook(body, NOW, POLICY)
    assert [a.labels for a in parsed.alerts] == [{"alertname": "ok"}]
    assert [(e.path, e.reason) for e in parsed.errors] == [
        ("alerts[1].labels", "at least one label with a non-empty value is required"),
        ("alerts[2].labels", "at least one label with a non-empty value is required"),
        ("alerts[3].endsAt", "must not be before startsAt"),
    ]


def test_a_future_start_without_an_end_names_the_start_not_the_end_it_was_given():
    body = b'[{"labels": {"alertname": "Early"}, "startsAt": "2099-01-01T00:00:00Z"}]'
    [error] = parse_postable_alerts(body, NOW, POLICY).errors
    assert error.path == "[0].startsAt" and error.reason.startswith("is in the future")
    assert "ingest.resolve_timeout" in error.reason


def test_empty_label_values_are_dropped_as_alertmanager_does():
    [alert] = parse_alertmanager_webhook(webhook(am_alert(labels={"alertname": "X", "pod": ""})),
                                         NOW, POLICY).alerts
    assert alert.labels == {"alertname": "X"}


def test_classic_label_names_reject_what_utf8_accepts():
    body = webhook(am_alert(labels={"alertname": "X", "service.name": "api"}))
    assert parse_alertmanager_webhook(body, NOW, POLICY).errors == []
    [error] = parse_alertmanager_webhook(body, NOW, IngestPolicy(classic_label_names=True)).errors
    assert error.path == "alerts[0].labels.service.name" and "[a-zA-Z_]" in error.reason


def test_prometheus_capture_fires_until_its_ends_at():
    received = datetime(2026, 11, 23, 4, 23, 11, tzinfo=timezone.utc)
    [alert] = parse_postable_alerts(capture("prometheus-2.42/api-v2-alerts-00.json"), received, POLICY).alerts
    assert alert.status is AlertStatus.FIRING
    assert alert.ends_at == datetime(2026, 11, 23, 4, 23, 24, 568000, tzinfo=timezone.utc)
    assert alert.labels["replica"] == "a" and alert.source == "prometheus"


def test_v2_defaults_start_to_now_and_end_to_resolve_timeout():
    [alert] = parse_postable_alerts(b'[{"labels": {"alertname": "X"}}]', NOW, POLICY).alerts
    assert alert.starts_at == NOW
    assert alert.ends_at == NOW + timedelta(minutes=5)
    assert alert.status is AlertStatus.FIRING


def test_v2_alert_whose_end_has_passed_is_resolved():
    body = b'[{"labels": {"alertname": "X"}, "startsAt": "2026-11-23T04:00:00Z", "endsAt": "2026-11-23T04:10:00Z"}]'
    [alert] = parse_postable_alerts(body, NOW, POLICY).alerts
    assert alert.status is AlertStatus.RESOLVED


def test_v2_with_only_ends_at_starts_at_ends_at():
    body = b'[{"labels": {"alertname": "X"}, "endsAt": "2026-11-23T04:10:00Z"}]'
    [alert] = parse_postable_alerts(body, NOW, POLICY).alerts
    assert alert.starts_at == alert.ends_at == datetime(2026, 11, 23, 4, 10, tzinfo=timezone.utc)


def test_v2_body_must_be_a_list():
    with pytest.raises(PayloadError) as raised:
        parse_postable_alerts(b'{"labels": {}}', NOW, POLICY)
    assert "Expected `array`" in raised.value.details[0].reason


FIRING_WITHOUT_END = b'{"alerts": [{"labels": {"alertname": "DiskFull", "host": "db1"}, "status": "firing"}]}'


def test_generic_alert_with_status_firing_fires_until_resolved_or_silent_for_the_silence_timeout():
    [alert] = parse_mapped(FIRING_WITHOUT_END, NOW, POLICY).alerts
    assert alert.status is AlertStatus.FIRING and alert.ends_at == NOW + timedelta(hours=24)
    assert alert.source == "generic"
    [forever] = parse_mapped(FIRING_WITHOUT_END, NOW, IngestPolicy(silence_timeout=None)).alerts
    assert forever.status is AlertStatus.FIRING and forever.ends_at is None


def test_a_mappings_own_silence_timeout_applies_first():
    mapping = FieldMapping(alerts="$.alerts", silence_timeout=Seconds(600))
    [alert] = parse_mapped(FIRING_WITHOUT_END, NOW, POLICY, mapping, "script").alerts
    assert alert.ends_at == NOW + timedelta(minutes=10)
    [never] = parse_mapped(FIRING_WITHOUT_END, NOW, POLICY, FieldMapping(alerts="$.alerts", silence_timeout=Seconds(0)),
                           "zabbix").alerts
    assert never.ends_at is None


def test_generic_accepts_epoch_seconds_and_scalar_label_values():
    body = b'{"alerts": [{"labels": {"alertname": "X", "code": 500, "up": false}, "startsAt": 1795407716}]}'
    [alert] = parse_mapped(body, NOW, POLICY).alerts
    assert alert.labels == {"alertname": "X", "code": "500", "up": "false"}
    assert alert.starts_at == datetime.fromtimestamp(1795407716, timezone.utc)


def test_generic_errors_name_each_field():
    body = b'{"alerts": [{"labels": {"a": {"nested": 1}}}, 7, {"labels": {"a": "1"}, "status": "bad"}]}'
    parsed = parse_mapped(body, NOW, POLICY)
    assert [(e.path, e.reason) for e in parsed.errors] == [
        ("alerts[0].labels.a", "expected a string, got dict"),
        ("alerts[1]", "expected an object, got int"),
        ("alerts[2].status", "unknown status 'bad', expected one of 'firing', 'resolved'"),
    ]


def test_generic_body_without_alert_list_is_rejected():
    with pytest.raises(PayloadError) as raised:
        parse_mapped(b'{"alert": {}}', NOW, POLICY)
    assert raised.value.details[0].path == "alerts"


GRAFANA_BODY = json.dumps({
    "receiver": "correlator", "status": "firing", "orgId": 1, "state": "alerting", "title": "[FIRING:1]",
    "version": "1", "groupKey": "{}:{alertname=\"HighLatency\"}",
    "alerts": [{"status": "firing", "labels": {"alertname": "HighLatency", "grafana_folder": "API"},
                "annotations": {"summary": "p99 above 1s"}, "startsAt": "2026-11-23T04:20:00Z",
                "endsAt": "0001-01-01T00:00:00Z", "values": {"B": 1.3, "C": 1},
                "dashboardURL": "http://grafana/d/abc", "fingerprint": "ab12"}],
}).encode()


def test_a_mapping_ingests_grafana_webhooks_without_code():
    mapping = FieldMapping(alerts="$.alerts", label_fields={"org_id": "$.orgId"},
                           static_labels={"sender": "grafana"}, annotation_fields={"dashboard": "dashboardURL"})
    [alert] = parse_mapped(GRAFANA_BODY, NOW, POLICY, mapping, "grafana").alerts
    assert alert.labels == {"alertname": "HighLatency", "grafana_folder": "API", "org_id": "1", "sender": "grafana"}
    assert alert.annotations == {"summary": "p99 above 1s", "dashboard": "http://grafana/d/abc"}
    assert alert.status is AlertStatus.FIRING and alert.ends_at == NOW + timedelta(hours=24)
    assert alert.source == "grafana"


def test_a_mapping_translates_sender_status_values():
    body = b'{"host": "web1", "check": "http", "state": "OK", "time": 1795407716}'
    mapping = FieldMapping(alerts="$", labels="none", label_fields={"host": "host", "alertname": "check"},
                           status="state", status_values={"CRITICAL": "firing", "OK": "resolved"},
                           starts_at="time")
    [alert] = parse_mapped(body, NOW, POLICY, mapping, "nagios").alerts
    assert alert.labels == {"host": "web1", "alertname": "http"}
    assert alert.status is AlertStatus.RESOLVED and alert.ends_at == NOW


ZABBIX = msgspec.convert({
    "alerts": "$", "labels": "none",
    "label_fields": {"alertname": "name", "host": "host", "severity": "severity"},
    "label_lists": [{"path": "tags", "name": "tag", "value": "value"}],
    "label_values": {"severity": {"0": "not_classified", "1": "info", "2": "warning", "3": "average", "4": "high",
                                  "5": "disaster"}},
    "status": "value", "status_values": {"1": "firing", "0": "resolved"},
}, FieldMapping)


def test_a_mapping_reads_zabbix_tags_as_pairs_and_maps_severity_numbers_to_names():
    body = json.dumps({"name": "High CPU", "host": "web1", "severity": 4, "value": 1, "tags": [
        {"tag": "service", "value": "shop"}, {"tag": "scope", "value": "performance"},
        {"tag": "service", "value": "api"}, {"tag": "critical", "value": ""}]}).encode()
    [alert] = parse_mapped(body, NOW, POLICY, ZABBIX, "zabbix").alerts
    assert alert.labels == {"alertname": "High CPU", "host": "web1", "severity": "high",
                            "service": "api,shop", "scope": "performance"}
    assert alert.status is AlertStatus.FIRING


def test_a_value_map_leaves_values_it_does_not_name():
    body = b'{"name": "X", "host": "web1", "severity": "urgent", "value": 0}'
    [alert] = parse_mapped(body, NOW, POLICY, ZABBIX, "zabbix").alerts
    assert alert.labels["severity"] == "urgent" and alert.status is AlertStatus.RESOLVED


@pytest.mark.parametrize("tags", [["env:prod", "team:db", "url:http://x:80", "bare"], "env:prod, team:db,url:http://x:80"])
def test_a_mapping_splits_key_value_tags_from_a_list_or_a_string(tags):
    mapping = FieldMapping(alerts="$", labels="none", label_fields={"alertname": "title"},
                           label_lists=[msgspec.convert({"path": "tags", "split": ":"}, LabelList)])
    [alert] = parse_mapped(json.dumps({"title": "Latency", "tags": tags}).encode(), NOW, POLICY, mapping, "dd").alerts
    assert alert.labels == {"alertname": "Latency", "env": "prod", "team": "db", "url": "http://x:80"}


def test_label_list_entries_of_the_wrong_shape_name_their_path():
    body = b'{"alerts": [{"labels": {"alertname": "X"}, "tags": [{"tag": "a", "value": "1"}, "b", {"value": 2}]}]}'
    mapping = FieldMapping(alerts="$.alerts", label_lists=[LabelList(path="tags", name="tag", value="value")])
    parsed = parse_mapped(body, NOW, POLICY, mapping, "m")
    assert [(e.path, e.reason) for e in parsed.errors] == [
        ("alerts[0].tags[1]", "expected an object with 'tag' and 'value', got str"),
        ("alerts[0].tags[2]", "expected the label name in 'tag', a string"),
    ]


SMALL = IngestPolicy(limits=AlertLimits(max_labels=2, max_label_name_length=8, max_label_value_length=8,
                                        max_annotations_length=16))


@pytest.mark.parametrize("alert, path, reason", [
    ({"labels": {"a": "1", "b": "2", "c": "3"}}, "[1].labels", "3 labels, more than ingest.limits.max_labels (2)"),
    ({"labels": {"alertname": "X"}}, "[1].labels", "label name 'alertname'... of 9 characters"),
    ({"labels": {"a": "éééééééééé"}}, "[1].labels.a", "value of 10 characters, longer than"),
    ({"labels": {"a": "1"}, "annotations": {"summary": "0123456789"}}, "[1].annotations", "17 characters"),
    # Over a limit and not decodable: what does not decode is said first.
    ({"labels": {"a": "1", "b": "2", "c": "3"}, "startsAt": "soon"}, "[1]", ""),
])
def test_limits_hold_on_the_v2_api_too(alert, path, reason):
    parsed = parse_postable_alerts(json.dumps([{"labels": {"ok": "1"}}, alert]).encode(), NOW, SMALL)
    assert [a.labels for a in parsed.alerts] == [{"ok": "1"}]
    [error] = parsed.errors
    assert error.path.startswith(path) and reason in error.reason, error
