"""Reading alerts back, health, readiness and metrics."""

import pytest

from correlator.board.pages import OWN_ROUTES, VIEWS
from tests.conftest import post_json, stored_alerts
from tests.engine_store import drain


def v2(name, starts, ends="2099-01-01T00:00:00Z", **labels):
    return {"labels": {"alertname": name, **labels}, "startsAt": starts, "endsAt": ends}


async def seed(client):
    body = [v2("A", "2026-11-23T04:00:00Z", team="db"), v2("B", "2026-11-23T04:01:00Z", team="web"),
            v2("C", "2026-11-23T04:02:00Z", "2026-11-23T04:03:00Z", team="db"),
            v2("D", "2026-11-23T04:03:00Z", team="web", env="prod")]
    assert (await post_json(client, "/api/v2/alerts", body)).status == 200


async def test_alerts_are_listed_newest_first(client):
    await seed(client)
    assert [a["labels"]["alertname"] for a in await stored_alerts(client)] == ["D", "C", "B", "A"]


async def test_status_filter_separates_firing_from_resolved(client):
    await seed(client)
    assert [a["labels"]["alertname"] for a in await stored_alerts(client, status="resolved")] == ["C"]
    assert [a["labels"]["alertname"] for a in await stored_alerts(client, status="firing")] == ["D", "B", "A"]


@pytest.mark.parametrize("filters, names", [
    (['team="db"'], ["C", "A"]),
    (['{team="web", env="prod"}'], ["D"]),
    (['team="web"', 'env!="prod"'], ["B"]),
    (['alertname=~"A|B"'], ["B", "A"]),
    (['env=""'], ["C", "B", "A"]),
])
async def test_label_matchers_filter_as_in_alertmanager(client, filters, names):
    await seed(client)
    response = await client.get("/api/v1/alerts", params=[("filter", f) for f in filters])
    assert [a["labels"]["alertname"] for a in (await response.json())["alerts"]] == names


async def test_pages_follow_the_cursor_without_gaps_or_repeats(client):
    await seed(client)
    seen, cursor, pages = [], None, 0
    while pages < 10:
        params = {"limit": "1", "filter": 'alertname!="B"', **({"cursor": cursor} if cursor else {})}
        body = await (await client.get("/api/v1/alerts", params=params)).json()
        seen += [a["labels"]["alertname"] for a in body["alerts"]]
        cursor, pages = body["next"], pages + 1
        if cursor is None:
            break
    assert seen == ["D", "C", "A"]


@pytest.mark.parametrize("params, field", [
    ({"status": "pending"}, "status"),
    ({"limit": "0"}, "limit"),
    ({"limit": "lots"}, "limit"),
    ({"filter": 'team=~"("'}, "filter"),
    ({"cursor": "!!"}, "cursor"),
])
async def test_bad_queries_name_the_parameter(client, params, field):
    response = await client.get("/api/v1/alerts", params=params)
    assert response.status == 400
    assert (await response.json())["details"][0]["path"] == field


async def test_a_query_parameter_the_endpoint_does_not_declare_is_refused_by_name(client):
    # `state` for `status`: ignored, the list would hold every incident as if it had filtered
    response = await client.get("/api/v1/incidents", params={"state": "open", "status": "open"})
    assert response.status == 400
    [detail] = (await response.json())["details"]
    assert detail["path"] == "state" and "this endpoint takes category, cursor, filter" in detail["reason"]
    response = await client.post("/api/v1/incidents/INC-000001/acknowledge", params={"by": "me"}, json={})
    assert response.status == 400 and "this endpoint takes none" in (await response.json())["details"][0]["reason"]


async def test_a_query_parameter_given_twice_is_refused_unless_it_is_a_list(client):
    response = await client.get("/api/v1/incidents?limit=1&limit=2")
    assert response.status == 400
    assert (await response.json())["details"] == [{"path": "limit", "reason": "given 2 times; give it once"}]
    listed = await client.get("/api/v1/incidents?status=open&status=resolved&filter=a%3D%22b%22&filter=c%3D%22d%22")
    assert listed.status == 200  # states are comma-separated or repeated; matchers repeat
    assert (await client.get("/api/v1/incidents", params={"status": "open", "limit": "5"})).status == 200


async def test_unknown_paths_and_methods_answer_json(client):
    response = await client.get("/api/v1/nothing")
    assert response.status == 404 and (await response.json())["error"] == "Not Found"
    response = await client.put("/api/v1/alertmanager")
    assert response.status == 405


async def test_health_and_readiness(client):
    assert (await (await client.get("/healthz")).json()) == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status == 200
    body = await ready.json()
    assert body["checks"] == {"writer": "ok", "commits": "ok", "store": "ok"}
    assert body["rules"]["rules"] > 0 and body["rules"]["last_reload"]["outcome"] == "success"
    assert body["replica"] == {"role": "leader", "epoch": None}  # a single daemon leads


async def test_metrics_count_requests_alerts_and_latency(client):
    await seed(client)
    await post_json(client, "/api/v2/alerts", [{"labels": {}}])
    text = await (await client.get("/metrics")).text()
    assert 'correlator_ingest_requests_total{code="200",endpoint="prometheus"} 1.0' in text
    assert 'correlator_ingest_requests_total{code="400",endpoint="prometheus"} 1.0' in text
    assert 'correlator_ingest_alerts_total{source="prometheus",status="firing"} 3.0' in text
    assert 'correlator_ingest_alerts_total{source="prometheus",status="resolved"} 1.0' in text
    assert 'correlator_ingest_invalid_alerts_total{source="prometheus"} 1.0' in text
    assert 'correlator_http_request_duration_seconds_count{method="POST",route="/api/v2/alerts"} 2.0' in text
    assert "correlator_store_pending_alerts 0.0" in text
    assert 'correlator_build_info{version="' in text


async def test_the_openapi_document_lists_every_route(client):
    document = await (await client.get("/api/v1/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    documented = set(document["paths"])
    board = {*VIEWS, *OWN_ROUTES}
    routes = {resource.canonical for resource in client.app.router.resources()} - board
    assert routes <= documented, f"undocumented: {routes - documented}"


async def test_incident_metrics_follow_the_engine(client):
    from correlator.app import SERVICE
    body = {"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"alertname": name, "instance": "db1:9100", "severity": "critical"},
         "startsAt": "2026-11-23T04:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}
        for name in ("QuuxFrobbed", "QuuxWibbled", "QuuxSnarfed")]}
    for _ in range(2):  # the second notification repeats the first
        await post_json(client, "/api/v1/alertmanager", body)
    await drain(client.app[SERVICE])
    [incident] = (await (await client.get("/api/v1/incidents")).json())["incidents"]
    await post_json(client, f"/api/v1/incidents/{incident['id']}/acknowledge", {})
    text = await (await client.get("/metrics")).text()
    category = incident["category"]  # the model's: neither a shipped rule nor the lexicon knows these words
    assert incident["priority"] == "P3"  # one host affected (low impact) x critical
    assert 'correlator_engine_alerts_total{outcome="new"} 3.0' in text
    assert 'correlator_engine_alerts_total{outcome="repeat"} 3.0' in text
    assert f'correlator_incidents_opened_total{{category="{category}",priority="P3"}} 1.0' in text
    assert f'correlator_incidents_open{{category="{category}",priority="P3",status="acknowledged",team="none"}} 1.0' \
        in text
    assert "correlator_alert_reduction_ratio 3.0" in text
    assert 'correlator_incident_time_to_acknowledge_seconds_count{priority="P3"} 1.0' in text
    # The first alert opened the incident; the other two joined it on a quiet host they share.
    assert 'correlator_rule_matches_total{reason="new_incident",rule="none"} 1.0' in text
    assert 'correlator_rule_matches_total{reason="related",rule="quiet entity"} 2.0' in text
    assert 'correlator_learned_join_decisions_total{decision="quiet_entity"} 2.0' in text
    assert 'correlator_learned_join_decisions_total{decision="new_incident"} 1.0' in text
    # Observed with each `classified` event: the classification did not change as the other names joined.
    assert 'correlator_classifier_confidence_count{field="category"} 1.0' in text
    assert "correlator_engine_lag_seconds " in text
    # The alerts started days before they came (a fixed startsAt): each new episode in the last bucket.
    assert 'correlator_alert_delivery_delay_seconds_bucket{le="1800.0"} 0.0' in text
    assert 'correlator_alert_delivery_delay_seconds_bucket{le="+Inf"} 3.0' in text
    assert 'correlator_alert_delivery_delay_seconds_count 3.0' in text
