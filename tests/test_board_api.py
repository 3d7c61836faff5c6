"""What the board adds to the API, through the app on a real store (SQLite and PostgreSQL): the login and its session
cookie, CSRF on the cookie's writes, the read-only role, incident counts, the list's ETag, an
alert's history, the rules in force and the rule check."""

import base64
import re
import urllib.parse

import pytest

from correlator.app import SERVICE
from correlator.board.throttle import MAX_FAILURES, WINDOW, LoginThrottle
from tests.conftest import CAPTURES, post_json
from tests.engine_store import drain

OPERATOR, READER = "operator-token", "reader-token"
AUTH = {"default": {"bearer_tokens": [OPERATOR]}, "read_only": {"bearer_tokens": [READER]}}
BEARER = {"Authorization": f"Bearer {OPERATOR}"}


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


@pytest.fixture
async def client(app_factory, db_url):
    client = await app_factory(db_url, auth=AUTH, ml={"enabled": False})
    for name in ("webhook-01", "webhook-02", "webhook-03"):
        body = (CAPTURES / f"alertmanager-0.25/{name}.json").read_bytes()
        assert (await post_json(client, "/api/v1/alertmanager", body, **BEARER)).status == 200
    await drain(client.app[SERVICE])
    return client


async def log_in(client, **form) -> str:
    response = await client.post("/login", data={"next": "/incidents", **form}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/incidents"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return (await (await client.get("/board/session")).json())["csrf_token"]


async def test_a_visitor_without_a_session_is_sent_to_log_in(client):
    response = await client.get("/incidents/INC-000001?x=1", allow_redirects=False)
    location = urllib.parse.urlsplit(response.headers["Location"])
    assert response.status == 303 and location.path == "/login"
    assert urllib.parse.parse_qs(location.query) == {"next": ["/incidents/INC-000001?x=1"]}
    assert (await client.get("/api/v1/incidents")).status == 401


async def test_wrong_credentials_get_no_session(client):
    response = await client.post("/login", data={"token": "guess", "next": "/"}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/login?failed=1")
    assert "Set-Cookie" not in response.headers


async def test_a_login_body_past_its_small_limit_is_refused_unread(client):
    response = await client.post("/login", data=b"token=" + b"x" * 20000,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 413 and "Set-Cookie" not in response.headers


@pytest.mark.parametrize("target", ["//evil.example/", "/\\evil.example/", "/\t/evil.example/", "https://evil.example/"])
async def test_login_never_sends_the_browser_to_another_site(client, target):
    response = await client.post("/login", data={"token": OPERATOR, "next": target}, allow_redirects=False)
    assert response.headers["Location"] == "/"


async def test_a_session_reads_and_acts_with_its_csrf_token(client):
    csrf = await log_in(client, token=OPERATOR)
    assert (await client.get("/incidents")).status == 200
    [incident] = (await (await client.get("/api/v1/incidents")).json())["incidents"]
    path = f"/api/v1/incidents/{incident['id']}/acknowledge"
    refused = await post_json(client, path, {})
    assert refused.status == 403 and "X-CSRF-Token" in (await refused.json())["error"]
    accepted = await post_json(client, path, {}, **{"X-CSRF-Token": csrf})
    assert accepted.status == 200 and (await accepted.json())["state"] == "acknowledged"


async def test_basic_credentials_log_in_too(app_factory):
    client = await app_factory(auth={"default": {"basic_auth": [{"username": "sre", "password": "pw"}]}})
    await log_in(client, username="sre", password="pw")
    assert (await client.get("/api/v1/incidents")).status == 200


async def test_a_forged_or_tampered_cookie_is_refused(client):
    await log_in(client, token=READER)
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["correlator_session"].value
    client.session.cookie_jar.clear()
    assert (await client.get("/api/v1/incidents", headers={"Cookie": f"correlator_session={cookie}"})).status == 200
    forged = cookie.replace("reader", "operator", 1)
    assert (await client.get("/api/v1/incidents", headers={"Cookie": f"correlator_session={forged}"})).status == 401


async def test_the_read_only_role_reads_but_may_not_act(client):
    reader = {"Authorization": f"Bearer {READER}"}
    [incident] = (await (await client.get("/api/v1/incidents", headers=reader)).json())["incidents"]
    refused = await post_json(client, f"/api/v1/incidents/{incident['id']}/acknowledge", {}, **reader)
    assert refused.status == 403 and (await refused.json())["error"] == "read-only credentials may not act"
    csrf = await log_in(client, token=READER)
    assert (await (await client.get("/board/session")).json())["role"] == "reader"
    refused = await post_json(client, "/api/v1/rules/reload", {}, **{"X-CSRF-Token": csrf})
    assert refused.status == 403


async def test_counts_per_state_follow_the_filters(client):
    response = await client.get("/api/v1/incidents/counts", headers=BEARER)
    body = await response.json()
    assert body == {"counts": {"open": 1, "acknowledged": 0, "investigating": 0, "escalated": 0, "resolved": 0,
                               "closed": 0}, "complete": True}
    only = await (await client.get("/api/v1/incidents/counts", params={"filter": 'alertname="Nothing"'},
                                   headers=BEARER)).json()
    assert sum(only["counts"].values()) == 0
    bad = await client.get("/api/v1/incidents/counts", params={"priority": "P9"}, headers=BEARER)
    assert bad.status == 400 and (await bad.json())["details"][0]["path"] == "priority"


async def test_an_unchanged_list_answers_304_to_its_etag(client):
    first = await client.get("/api/v1/incidents", headers=BEARER)
    tag = first.headers["ETag"]
    unchanged = await client.get("/api/v1/incidents", headers={**BEARER, "If-None-Match": tag})
    assert unchanged.status == 304 and await unchanged.read() == b""
    [incident] = (await first.json())["incidents"]
    await post_json(client, f"/api/v1/incidents/{incident['id']}/acknowledge", {}, **BEARER)
    changed = await client.get("/api/v1/incidents", headers={**BEARER, "If-None-Match": tag})
    assert changed.status == 200 and changed.headers["ETag"] != tag


async def test_an_alerts_history_shows_its_episodes_and_incidents(client):
    [incident] = (await (await client.get("/api/v1/incidents", headers=BEARER)).json())["incidents"]
    history = await (await client.get("/api/v1/alerts/f735ca39333b8045/history", headers=BEARER)).json()
    assert [e["labels"]["instance"] for e in history["episodes"]] == ["node1:9100"]
    assert [(i["id"], i["url"]) for i in history["incidents"]] == [
        (incident["id"], f"/api/v1/incidents/{incident['id']}")]
    assert (await client.get("/api/v1/alerts/0000000000000000/history", headers=BEARER)).status == 404
    bad = await client.get("/api/v1/alerts/NOTHEX/history", headers=BEARER)
    assert bad.status == 400 and (await bad.json())["details"][0]["path"] == "fingerprint"


async def test_the_rules_in_force_are_listed_with_the_last_reload(client):
    rules = await (await client.get("/api/v1/rules", headers=BEARER)).json()
    assert rules["last_reload"]["outcome"] == "success"
    assert {"name": "node-and-its-workloads", "kind": "link"} in [
        {k: rule[k] for k in ("name", "kind")} for rule in rules["in_force"]]


async def test_a_rule_check_runs_the_file_over_recent_alerts(client):
    content = ("version: 1\nrules:\n  - name: cpu-by-cluster\n    kind: group\n"
               "    matchers: ['alertname=\"HighCPU\"']\n    group_by: [cluster]\n")
    answer = await post_json(client, "/api/v1/rules/check", {"name": "cpu.yaml", "content": content}, **BEARER)
    body = await answer.json()
    assert answer.status == 200 and body["valid"] and body["rules"] == ["cpu-by-cluster"]
    [incident] = body["incidents"]
    assert incident["alerts"] == 4  # the crash loop still joins by the shipped link rule
    assert sorted(incident["decisions"]) == [
        "cpu-by-cluster placed HighCPU 7a89719ae5094d2a (group)", "cpu-by-cluster placed HighCPU c2de2fe3aba38383 (group)",
        "cpu-by-cluster placed HighCPU f735ca39333b8045 (group)"]


async def test_a_rule_check_names_the_file_and_line_of_each_error(client):
    content = "version: 1\nrules:\n  - name: broken\n    kind: group\n    group_by: []\n"
    body = await (await post_json(client, "/api/v1/rules/check", {"name": "mine.yaml", "content": content},
                                  **BEARER)).json()
    assert body["valid"] is False
    assert [(e["path"], e["reason"]) for e in body["errors"]] == [
        ("mine.yaml:5", "rules[0].group_by: at least one label to group by is required")]


async def test_a_rule_check_refuses_a_path_for_a_name(client):
    answer = await post_json(client, "/api/v1/rules/check", {"name": "../etc/x.yaml", "content": ""}, **BEARER)
    assert answer.status == 400 and (await answer.json())["details"][0]["path"] == "name"


async def test_the_board_pages_allow_only_their_own_scripts(client):
    await log_in(client, token=OPERATOR)
    response = await client.get("/incidents")
    assert re.search(r"default-src 'self'", response.headers["Content-Security-Policy"])
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert (await client.get("/board/static/app.js")).status == 200


async def test_a_client_guessing_credentials_is_held_off_without_them_being_checked(client):
    for _ in range(MAX_FAILURES):
        response = await client.post("/login", data={"username": "admin", "password": "guess"},
                                     allow_redirects=False)
        assert response.status == 303 and "failed=1" in response.headers["Location"]
    response = await client.post("/login", data={"username": "admin", "password": "guess"}, allow_redirects=False)
    assert response.status == 429 and 1 <= int(response.headers["Retry-After"]) <= 300
    assert (await response.json())["details"][0]["path"] == "username"
    # another user name from the same address is counted apart: the right token still logs in
    await log_in(client, token=OPERATOR)


async def test_an_api_client_guessing_basic_credentials_is_held_off_and_the_board_login_with_it(app_factory):
    client = await app_factory(auth={"default": {"basic_auth": [{"username": "admin", "password": "right"}]}})
    wrong = basic("admin", "guess")
    for _ in range(MAX_FAILURES):
        assert (await client.get("/api/v1/incidents", headers=wrong)).status == 401
    response = await client.get("/api/v1/incidents", headers=basic("admin", "right"))
    assert response.status == 429 and 1 <= int(response.headers["Retry-After"]) <= WINDOW
    assert (await response.json())["details"][0]["path"] == "Authorization"
    login = await client.post("/login", data={"username": "admin", "password": "right"}, allow_redirects=False)
    assert login.status == 429  # one count for the API and the board
    # another user name is counted apart
    assert (await client.get("/api/v1/incidents", headers=basic("other", "guess"))).status == 401


def test_failures_leave_the_count_once_out_of_the_window():
    now = [0.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    client = ("10.0.0.1", "admin")
    for _ in range(MAX_FAILURES):
        throttle.failed(client)
    assert throttle.wait(client) == WINDOW
    now[0] = WINDOW - 1
    assert throttle.wait(client) == 1
    now[0] = WINDOW + 0.5
    assert throttle.wait(client) == 0 and throttle.wait(("10.0.0.2", "admin")) == 0
    for _ in range(MAX_FAILURES):
        throttle.failed(client)
    throttle.succeeded(client)
    assert throttle.wait(client) == 0
