"""The HTTP receivers end to end through aiohttp's test client, on a real SQLite store."""

import base64
import gzip
import hashlib
import hmac
import json
from datetime import datetime, timedelta
import logging
import zlib

import pytest
from aiohttp import web

from correlator.app import BODIES
from correlator.http_body import inflate
from tests.conftest import CAPTURES, capture, post_json, stored_alerts

AM = "/api/v1/alertmanager"
V2 = "/api/v2/alerts"
GENERIC = "/api/v1/alerts"


def am_alert(name="X", status="firing", starts="2026-11-23T04:21:56Z", ends="0001-01-01T00:00:00Z", **labels):
    return {"status": status, "labels": {"alertname": name, **labels}, "annotations": {},
            "startsAt": starts, "endsAt": ends, "generatorURL": ""}


def webhook(*alerts):
    return {"version": "4", "status": "firing", "receiver": "corr", "groupKey": "{}:{}", "alerts": list(alerts)}


async def test_alertmanager_webhook_is_stored_and_listed(client):
    response = await post_json(client, AM, capture("alertmanager-0.25/webhook-01.json"))
    assert response.status == 200
    assert (await response.json()) == {"status": "success", "accepted": 2}
    alerts = await stored_alerts(client)
    assert {a["fingerprint"] for a in alerts} == {"f735ca39333b8045", "7a89719ae5094d2a"}
    first = next(a for a in alerts if a["fingerprint"] == "f735ca39333b8045")
    assert first["status"] == "firing" and first["endsAt"] is None and first["source"] == "alertmanager"
    assert first["annotations"]["summary"] == "CPU above 95% on node1"
    assert first["notifications"] == 1 and first["lastSeen"] and not first["flapping"]


async def test_alerts_an_alertmanager_receiver_left_out_are_counted_and_logged(client, caplog):
    body = {**json.loads(capture("alertmanager-0.25/webhook-01.json")), "truncatedAlerts": 3}  # max_alerts cut 3
    with caplog.at_level(logging.WARNING, logger="correlator.ingest.receivers"):
        response = await post_json(client, AM, body)
    assert response.status == 200 and (await response.json())["accepted"] == 2
    [record] = [r for r in caplog.records if r.getMessage() == "alerts left out by the sender"]
    assert record.truncated == 3 and record.group == body["groupKey"] and "max_alerts" in record.hint
    text = await (await client.get("/metrics")).text()
    assert 'correlator_ingest_truncated_alerts_total{source="alertmanager"} 3.0' in text
    for odd in (None, "3", -1):  # only reported on: a sender spelling it oddly loses no alert for it
        response = await post_json(client, AM, {**body, "truncatedAlerts": odd, "groupKey": None})
        assert response.status == 200 and (await response.json())["accepted"] == 2


async def test_snapshots_repeat_episodes_instead_of_duplicating_them(client):
    for number in (1, 3, 4, 5):  # the HighCPU group's four notifications, captured from Alertmanager 0.25
        assert (await post_json(client, AM, capture(f"alertmanager-0.25/webhook-0{number}.json"))).status == 200
    alerts = {a["labels"]["instance"]: a for a in await stored_alerts(client)}
    assert len(alerts) == 3
    assert alerts["node1:9100"]["notifications"] == 3  # in 01, 03, 04 (resolved); absent from 05
    assert alerts["node2:9100"]["notifications"] == 4
    assert all(a["status"] == "resolved" for a in alerts.values())
    assert alerts["node3:9100"]["endsAt"] == "2026-11-23T04:22:04Z"


async def test_ha_replicas_sending_the_same_notification_store_it_once(client):
    body = capture("alertmanager-0.25/webhook-01.json")
    responses = [await post_json(client, AM, body) for _ in range(2)]
    assert [r.status for r in responses] == [200, 200]
    alerts = await stored_alerts(client)
    assert len(alerts) == 2 and {a["notifications"] for a in alerts} == {2}


async def test_late_firing_does_not_reopen_resolved_episode(client):
    await post_json(client, AM, webhook(am_alert(status="resolved", ends="2026-11-23T04:30:00Z")))
    await post_json(client, AM, webhook(am_alert()))
    [alert] = await stored_alerts(client)
    assert alert["status"] == "resolved" and alert["endsAt"] == "2026-11-23T04:30:00Z"
    assert alert["notifications"] == 2


async def test_a_new_starts_at_is_a_new_episode(client):
    await post_json(client, AM, webhook(am_alert(status="resolved", ends="2026-11-23T04:30:00Z")))
    await post_json(client, AM, webhook(am_alert(starts="2026-11-23T05:00:00Z")))
    alerts = await stored_alerts(client)
    assert [(a["startsAt"], a["status"]) for a in alerts] == [
        ("2026-11-23T05:00:00Z", "firing"), ("2026-11-23T04:21:56Z", "resolved")]
    assert len({a["fingerprint"] for a in alerts}) == 1


async def test_an_alert_changing_state_too_often_is_flapping(client):
    # Default: more than 4 changes within 1h. Each episode is two changes (fire, resolve).
    for minute in range(0, 30, 10):
        await post_json(client, AM, webhook(am_alert(status="resolved", starts=f"2026-11-23T04:{minute:02}:00Z",
                                                     ends=f"2026-11-23T04:{minute + 5:02}:00Z")))
    alerts = await stored_alerts(client)
    assert [a["flapping"] for a in alerts] == [True, False, False]  # the 5th and 6th changes


async def test_repeats_do_not_count_as_state_changes(client):
    for _ in range(6):
        await post_json(client, AM, webhook(am_alert()))
    [alert] = await stored_alerts(client)
    assert not alert["flapping"] and alert["notifications"] == 6


async def test_prometheus_v2_capture_is_stored_as_firing_until_ends_at(client):
    assert (await post_json(client, V2, capture("prometheus-2.42/api-v2-alerts-00.json"))).status == 200
    [alert] = await stored_alerts(client)
    assert alert["labels"]["alertname"] == "AlwaysFiring" and alert["source"] == "prometheus"
    # The capture's endsAt lies in the past now: the episode timed out, as in Alertmanager.
    assert alert["status"] == "resolved"


async def test_prometheus_resends_extend_the_same_episode(client):
    await post_json(client, V2, [{"labels": {"alertname": "A"}, "startsAt": "2026-11-23T04:00:00Z",
                                  "endsAt": "2099-01-01T00:00:00Z"}])
    await post_json(client, V2, [{"labels": {"alertname": "A"}, "startsAt": "2026-11-23T04:00:00Z",
                                  "endsAt": "2099-01-01T00:01:00Z"}])
    [alert] = await stored_alerts(client)
    assert alert["status"] == "firing" and alert["endsAt"] == "2099-01-01T00:01:00Z"
    assert alert["notifications"] == 2


async def test_generic_endpoint_stores_alerts(client):
    response = await post_json(client, GENERIC, {"alerts": [
        {"labels": {"alertname": "DiskFull", "host": "db1"}, "status": "firing",
         "annotations": {"summary": "disk 98%"}}]})
    assert response.status == 200
    [alert] = await stored_alerts(client)
    assert alert["source"] == "generic" and alert["status"] == "firing"
    # No endsAt sent: it fires until resolved or silent for ingest.silence_timeout (24h by default).
    ends, seen = (datetime.fromisoformat(alert[k].replace("Z", "+00:00")) for k in ("endsAt", "firstSeen"))
    assert ends - seen == timedelta(hours=24)


async def test_configured_mapping_gets_its_own_endpoint(app_factory):
    client = await app_factory(ingest={"mappings": {"grafana": {
        "alerts": "$.alerts", "label_fields": {"org_id": "$.orgId"}}}})
    body = {"orgId": 3, "state": "alerting", "version": "1",
            "alerts": [{"status": "firing", "labels": {"alertname": "Latency"}, "startsAt": "2026-11-23T04:00:00Z",
                        "endsAt": "0001-01-01T00:00:00Z", "values": {"A": 1.5}}]}
    assert (await post_json(client, "/api/v1/alerts/grafana", body)).status == 200
    [alert] = await stored_alerts(client)
    assert alert["labels"] == {"alertname": "Latency", "org_id": "3"} and alert["source"] == "grafana"
    response = await post_json(client, "/api/v1/alerts/zabbix", body)  # a mapping no one configured
    [detail] = (await response.json())["details"]
    assert response.status == 404 and detail == {
        "path": "mapping", "reason": "define ingest.mappings.zabbix in the configuration to take this webhook's alerts"}


# Was a 400 with "accepted": a partly stored body is a 2xx now, so no sender reads it as a failure.
async def test_a_partly_invalid_body_gets_207_naming_the_rejected_alerts_and_keeps_the_valid_ones(client):
    response = await post_json(client, AM, webhook(am_alert(name="Good"), {**am_alert(), "labels": {}}))
    assert response.status == 207
    assert (await response.json()) == {"status": "partial", "accepted": 1, "rejected": [
        {"path": "alerts[1].labels", "reason": "at least one label with a non-empty value is required"}]}
    assert [a["labels"]["alertname"] for a in await stored_alerts(client)] == ["Good"]


async def test_rejected_alerts_are_logged_and_counted_since_the_sender_shows_nothing_of_a_207(client, caplog):
    caplog.set_level(logging.WARNING, logger="correlator.ingest.receivers")
    response = await post_json(client, AM, webhook(am_alert(name="Good"), am_alert(starts="never"),
                                                   {**am_alert(), "labels": {}}))
    assert response.status == 207
    [record] = [r for r in caplog.records if r.getMessage() == "alerts rejected"]
    assert (record.endpoint, record.accepted, record.rejected) == ("alertmanager", 1, 2)
    assert record.first.startswith("alerts[1].startsAt: ")
    metrics = await (await client.get("/metrics")).text()
    assert 'correlator_ingest_invalid_alerts_total{source="alertmanager"} 2.0' in metrics


@pytest.mark.parametrize("path, body, where", [
    (AM, webhook(am_alert(name="Good"), am_alert(name="Bad", starts="2026-11-23T25:00:00Z"), am_alert(name="Fine")),
     "alerts[1].startsAt"),
    (V2, [{"labels": {"alertname": "Good"}}, {"labels": {"alertname": "Bad"}, "endsAt": "later"},
          {"labels": {"alertname": "Fine"}}], "[1].endsAt"),
    (GENERIC, {"alerts": [{"labels": {"alertname": "Good"}}, {"labels": {"alertname": "Bad"}, "startsAt": "soon"},
                          {"labels": {"alertname": "Fine"}}]}, "alerts[1].startsAt"),
])
async def test_one_unparseable_time_loses_only_its_own_alert(client, path, body, where):
    response = await post_json(client, path, body)
    assert response.status == 207, await response.text()
    answer = await response.json()
    assert answer["accepted"] == 2 and [d["path"] for d in answer["rejected"]] == [where]
    assert sorted(a["labels"]["alertname"] for a in await stored_alerts(client)) == ["Fine", "Good"]


async def test_a_body_whose_every_alert_is_invalid_gets_400_and_stores_no_alert(client):
    response = await post_json(client, AM, webhook(am_alert(starts="never"), {**am_alert(), "labels": {}}))
    assert response.status == 400
    answer = await response.json()
    assert answer["error"] == "invalid alerts" and answer["accepted"] == 0
    assert [d["path"] for d in answer["details"]] == ["alerts[0].startsAt", "alerts[1].labels"]
    assert await stored_alerts(client) == []


@pytest.mark.parametrize("path, body, where", [
    (AM, b"{not json", "$"),
    (AM, json.dumps(webhook({**am_alert(), "labels": {"a": 1}})).encode(), "alerts[0].labels.a"),
    (V2, b'[{"labels": {"alertname": "X"}, "annotations": {"summary": ["x"]}}]', "[0].annotations.summary"),
    (AM, json.dumps(webhook(am_alert(starts="not a time"))).encode(), "alerts[0].startsAt"),
    (V2, b'[{"labels": {"alertname": "X"}, "endsAt": 5}]', "[0].endsAt"),
    (GENERIC, b'{"alerts": "none"}', "alerts"),
])
async def test_malformed_bodies_get_400_naming_the_field_and_store_nothing(client, path, body, where):
    response = await post_json(client, path, body)
    assert response.status == 400
    assert (await response.json())["details"][0]["path"] == where
    assert await stored_alerts(client) == []


async def test_wrong_content_type_is_415(client):
    response = await client.post(AM, data=capture("alertmanager-0.25/webhook-01.json"),
                                 headers={"Content-Type": "text/plain"})
    assert response.status == 415
    assert (await response.json())["details"][0]["path"] == "Content-Type"
    assert await stored_alerts(client) == []


async def test_body_over_the_limit_is_413_and_the_limit_is_configurable(app_factory):
    client = await app_factory(server={"max_body_size": "1KiB"})
    big = webhook(*[am_alert(instance=f"node{i}") for i in range(40)])
    response = await post_json(client, AM, big)
    assert response.status == 413
    body = await response.json()
    assert "server.max_body_size" in body["details"][0]["reason"]
    assert (await post_json(client, AM, webhook(am_alert()))).status == 200


async def test_default_body_limit_takes_an_alert_storm_of_several_megabytes(client):
    storm = webhook(*[am_alert(instance=f"node{i}:9100", job="node", pod=f"p{i}" * 20) for i in range(20000)])
    body = json.dumps(storm).encode()
    assert len(body) > 6 * 2**20
    response = await post_json(client, AM, body)
    assert response.status == 200 and (await response.json())["accepted"] == 20000


TOKEN_AUTH = {"default": {"bearer_tokens": ["old-token", "new-token"],
                          "basic_auth": [{"username": "am", "password": "pw"}]}}


@pytest.mark.parametrize("headers, status", [
    ({}, 401),
    ({"Authorization": "Bearer wrong"}, 401),
    ({"Authorization": "Bearer old-token"}, 200),
    ({"Authorization": "Bearer new-token"}, 200),
    ({"Authorization": "Basic " + base64.b64encode(b"am:pw").decode()}, 200),
    ({"Authorization": "Basic " + base64.b64encode(b"am:nope").decode()}, 401),
    ({"Authorization": "Basic !!!"}, 401),
])
async def test_bearer_and_basic_auth_with_rotation(app_factory, headers, status):
    client = await app_factory(auth=TOKEN_AUTH)
    response = await post_json(client, AM, webhook(am_alert()), **headers)
    assert response.status == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    listing = await client.get("/api/v1/alerts", headers={"Authorization": "Bearer new-token"})
    assert len((await listing.json())["alerts"]) == (1 if status == 200 else 0)


async def test_reading_alerts_needs_credentials_too(app_factory):
    client = await app_factory(auth=TOKEN_AUTH)
    assert (await client.get("/api/v1/alerts")).status == 401
    assert (await client.get("/healthz")).status == 200


async def test_per_endpoint_auth_overrides_the_default(app_factory):
    client = await app_factory(auth={"default": {"bearer_tokens": ["a"]}, "prometheus": {"bearer_tokens": ["p"]}})
    alert = [{"labels": {"alertname": "X"}}]
    assert (await post_json(client, V2, alert, Authorization="Bearer a")).status == 401
    assert (await post_json(client, V2, alert, Authorization="Bearer p")).status == 200
    assert (await post_json(client, AM, webhook(am_alert()), Authorization="Bearer a")).status == 200


def grafana_signature(secret: bytes, body: bytes, timestamp: str | None = None) -> str:
    signed = f"{timestamp}:".encode() + body if timestamp else body
    return hmac.new(secret, signed, hashlib.sha256).hexdigest()


async def test_hmac_signature_as_grafana_signs(app_factory):
    client = await app_factory(auth={"default": {"hmac": {"secret": "s3cret"}}})
    body = json.dumps(webhook(am_alert())).encode()
    good = grafana_signature(b"s3cret", body)
    assert (await post_json(client, AM, body, **{"X-Grafana-Alert-Signature": good})).status == 200
    assert (await post_json(client, AM, body, **{"X-Grafana-Alert-Signature": "0" * 64})).status == 401
    assert (await post_json(client, AM, body)).status == 401
    tampered = body.replace(b'"X"', b'"Y"')
    assert (await post_json(client, AM, tampered, **{"X-Grafana-Alert-Signature": good})).status == 401
    assert len(await stored_alerts(client)) == 1


async def test_hmac_with_timestamp_header_rejects_stale_signatures(app_factory):
    import time
    client = await app_factory(auth={"default": {"hmac": {"secret": "k", "header": "X-Sig",
                                                          "timestamp_header": "X-Sig-Ts"}}})
    body = json.dumps(webhook(am_alert())).encode()
    now = str(int(time.time()))
    stale = str(int(time.time()) - 3600)
    assert (await post_json(client, AM, body, **{"X-Sig": grafana_signature(b"k", body, now),
                                                 "X-Sig-Ts": now})).status == 200
    assert (await post_json(client, AM, body, **{"X-Sig": grafana_signature(b"k", body, stale),
                                                 "X-Sig-Ts": stale})).status == 401


@pytest.mark.parametrize("labels, annotations, path, reason", [
    ({f"l{i}": "v" for i in range(4)}, {}, "alerts[1].labels", "4 labels, more than ingest.limits.max_labels (3)"),
    ({"alertname": "X", "n" * 21: "v"}, {}, "alerts[1].labels",
     "of 21 characters, longer than ingest.limits.max_label_name_length (20)"),
    ({"alertname": "X", "job": "v" * 31}, {}, "alerts[1].labels.job",
     "value of 31 characters, longer than ingest.limits.max_label_value_length (30)"),
    ({"alertname": "X"}, {"summary": "s" * 30, "runbook": "r" * 14}, "alerts[1].annotations",
     "58 characters of names and values, more than ingest.limits.max_annotations_length (50)"),
])
async def test_an_alert_over_a_limit_is_rejected_alone_naming_its_index_and_field(
        app_factory, labels, annotations, path, reason):
    client = await app_factory(ingest={"limits": {"max_labels": 3, "max_label_name_length": 20,
                                                  "max_label_value_length": 30, "max_annotations_length": 50}})
    over = {**am_alert(), "labels": labels, "annotations": annotations}
    response = await post_json(client, AM, webhook(am_alert(name="Good"), over))
    assert response.status == 207
    [rejected] = (await response.json())["rejected"]
    assert rejected["path"] == path and reason in rejected["reason"], rejected
    assert [a["labels"]["alertname"] for a in await stored_alerts(client)] == ["Good"]
    alone = await post_json(client, GENERIC, {"alerts": [{"labels": labels, "annotations": annotations}]})
    assert alone.status == 400
    assert (await alone.json())["details"][0]["path"] == path.replace("alerts[1]", "alerts[0]")


async def test_default_limits_take_what_monitoring_systems_send_and_refuse_a_log_line_in_a_label(client):
    usual = am_alert(name="KubePodCrashLooping", **{f"label_{i}": "x" * 200 for i in range(60)})
    usual["annotations"] = {"description": "d" * 20_000, "runbook_url": "https://runbooks/x"}
    runaway = am_alert(name="LogLine", message="m" * 100_000)
    response = await post_json(client, AM, webhook(usual, runaway))
    assert response.status == 207
    assert [d["path"] for d in (await response.json())["rejected"]] == ["alerts[1].labels.message"]


async def test_a_source_can_leave_the_ha_replica_label_out_of_the_fingerprint(app_factory):
    client = await app_factory(ingest={"fingerprint_ignore_labels": {"prometheus": ["replica"]}})
    body = capture("prometheus-2.42/api-v2-alerts-00.json")
    for name in (b"a", b"b"):
        response = await post_json(client, V2, body.replace(b'"replica":"a"', b'"replica":"' + name + b'"'))
        assert response.status == 200
    [alert] = await stored_alerts(client)
    assert alert["notifications"] == 2 and "replica" in alert["labels"]


async def test_a_zabbix_mapping_from_config_takes_tag_pairs_and_severity_numbers(app_factory):
    client = await app_factory(ingest={"mappings": {"zabbix": {
        "alerts": "$", "labels": "none", "label_fields": {"alertname": "name", "host": "host", "severity": "severity"},
        "label_lists": [{"path": "tags", "name": "tag", "value": "value"}],
        "label_values": {"severity": {2: "warning", 4: "high", 5: "disaster"}},
        "status": "value", "status_values": {1: "firing", 0: "resolved"}}}})
    body = {"name": "Zabbix agent is not available", "host": "db1", "severity": 4, "value": 1,
            "tags": [{"tag": "scope", "value": "availability"}, {"tag": "component", "value": "system"}]}
    assert (await post_json(client, "/api/v1/alerts/zabbix", body)).status == 200
    [alert] = await stored_alerts(client)
    assert alert["labels"] == {"alertname": "Zabbix agent is not available", "host": "db1", "severity": "high",
                               "scope": "availability", "component": "system"}
    assert alert["status"] == "firing"


async def test_a_body_that_is_not_what_its_content_encoding_says_is_400_and_a_gzipped_one_is_read(client):
    body = CAPTURES.joinpath("alertmanager-0.25/webhook-01.json").read_bytes()
    zipped = await client.post(AM, data=gzip.compress(body),
                               headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert zipped.status == 200
    for path in (AM, "/api/v2/alerts"):
        response = await client.post(path, data=b"not gzip at all",
                                     headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        assert response.status == 400
        assert (await response.json())["details"] == [{"path": "Content-Encoding",
                                                       "reason": "the body cannot be decoded as 'gzip'"}]


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "x-gzip", "gzip, gzip"])
async def test_a_body_in_a_content_coding_not_read_is_415_naming_the_codings_read(client, coding):
    """Not read as plain JSON (refused as malformed, or JSON by chance), nor a plain-text 400."""
    for path in (AM, "/api/v2/alerts", "/api/v1/incidents/INC-000001/acknowledge"):
        response = await client.post(path, data=json.dumps([]).encode(),
                                     headers={"Content-Type": "application/json", "Content-Encoding": coding})
        assert response.status == 415, path
        assert response.headers["Accept-Encoding"] == "gzip, deflate"
        assert (await response.json())["details"] == [{
            "path": "Content-Encoding", "reason": f"expected one of identity, gzip, deflate, got {coding!r}"}]
    assert await stored_alerts(client) == []


async def test_deflate_with_or_without_its_zlib_header_and_gzip_of_several_members_are_read(client):
    alerts = [{"labels": {"alertname": "Coded", "n": str(n)}} for n in range(3)]
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    bodies = {"deflate": [zlib.compress(json.dumps(alerts[:1]).encode()),
                          raw.compress(json.dumps(alerts[1:2]).encode()) + raw.flush()],
              "gzip": [gzip.compress(b'[{"labels": {"alertname": "Coded", ') + gzip.compress(b'"n": "2"}}]')]}
    for coding, coded in bodies.items():
        for body in coded:
            response = await client.post("/api/v2/alerts", data=body, headers={
                "Content-Type": "application/json", "Content-Encoding": coding})
            assert response.status == 200, await response.text()
    assert sorted(a["labels"]["n"] for a in await stored_alerts(client)) == ["0", "1", "2"]


def test_a_body_inflating_to_the_limit_is_read_and_one_byte_more_is_too_large():
    body = gzip.compress(b"x" * 1000)
    assert inflate(body, "gzip", 1000) == b"x" * 1000
    with pytest.raises(web.HTTPRequestEntityTooLarge):
        inflate(body, "gzip", 999)
    with pytest.raises(web.RequestPayloadError):
        inflate(body[:-8], "gzip", 1000)  # the stream ends early


async def test_a_coded_body_inflating_past_the_limit_is_413_and_holds_the_limit_in_the_budget(app_factory):
    client = await app_factory(server={"max_body_size": "4KiB", "max_body_memory": "4KiB"})
    bomb = gzip.compress(b" " * 2**21, 9)
    assert len(bomb) < 4096  # its Content-Length fits the limit: refused only once inflated
    response = await client.post("/api/v2/alerts", data=bomb, headers={
        "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.status == 413
    assert (await response.json())["details"][0]["reason"] == \
        "body larger than the limit of 4096 bytes (server.max_body_size)"
    assert client.app[BODIES].peak == 4096


async def test_an_event_style_alert_sent_again_without_starts_at_is_one_episode_until_resolved(client):
    # Zabbix and scripts send no startsAt: each send is stamped anew, and Alertmanager merges the
    # sends of a firing alert into one; the alerts list follows the engine's merge
    event = {"labels": {"alertname": "ZbxDisk", "host": "zz1"}}
    for status in ("firing", "firing", "resolved"):
        assert (await post_json(client, GENERIC, {"alerts": [{**event, "status": status}]})).status == 200
    [episode] = await stored_alerts(client, filter='alertname="ZbxDisk"')
    assert episode["status"] == "resolved" and episode["notifications"] == 3
    assert await stored_alerts(client, status="firing", filter='alertname="ZbxDisk"') == []
