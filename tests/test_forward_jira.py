"""The Jira adapter against a local Jira (tests/fake_jira.py), Cloud and Data Center: create, comments,
transitions, no duplicate after an ambiguous create (also while Cloud's search lags), HTTP statuses,
option errors, and webhooks back."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest
import yaml

from correlator.forward import jira, jira_markup
from correlator.forward.contract import (AlertSummary, ChangeKind, Delivery, DestinationError, IncidentChange,
                                         IncidentSnapshot, InboundRejected, OutcomeKind, RemoteRef)
from tests.fake_jira import ACCOUNT_ID, API_TOKEN, DC_USER, EMAIL, PAT, PROJECT, FakeJira, sign, webhook

SECRET = "jira-webhook-secret"
KEY = "inc-42:jira"
NOW = datetime(2026, 12, 3, 1, 30, tzinfo=timezone.utc)


def snapshot(**fields) -> IncidentSnapshot:
    return IncidentSnapshot(**{
        "id": "inc-42", "title": "checkout latency", "state": "open", "priority": "P2", "impact": "high",
        "urgency": "medium", "category": "availability", "service_area": "payments", "services": ("checkout",),
        "team": "payments", "tier": 1, "opened_at": NOW - timedelta(minutes=10), "resolved_at": None,
        "alerts": (AlertSummary("HighLatency", "firing", {"job": "checkout"}, "rule:checkout", "p99 above 2s"),),
        "url": "https://correlator.example.com/incidents/inc-42", **fields})


def delivery(kind: ChangeKind, remote: RemoteRef | None = None, detail: dict | None = None, actor: str = "alice",
             create_sent_at: datetime | None = None, attempt: int | None = None, outbox_id: int = 1,
             **fields) -> Delivery:
    change = IncidentChange(kind=kind, at=NOW, actor=actor, incident=snapshot(**fields), detail=detail or {})
    return Delivery(outbox_id=outbox_id, destination="jira", change=change, idempotency_key=KEY, remote=remote,
                    attempt=attempt or (2 if create_sent_at else 1), now=NOW, create_sent_at=create_sent_at)


async def started(flavor: str, aiohttp_server) -> FakeJira:
    fake = FakeJira(flavor)
    server = await aiohttp_server(fake.app())
    fake.base_url = str(server.make_url("/")).rstrip("/")
    return fake


@pytest.fixture(params=["cloud", "datacenter"])
async def fake(request, aiohttp_server):
    fake = await started(request.param, aiohttp_server)
    yield fake
    fake.release()  # a request kept hanging would hold the server's shutdown


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


def options(fake: FakeJira, **overrides) -> dict:
    auth = {"email": EMAIL, "api_token": API_TOKEN} if fake.cloud else {"token": PAT}
    return {"base_url": fake.base_url, "flavor": fake.flavor, "project": PROJECT, "auth": auth,
            "labels": ["oncall"], "webhook_secret": SECRET, **overrides}


def text_of(fake: FakeJira, body) -> str:
    """What a person reads in a description or comment."""
    return jira_markup.adf_text(body) if fake.cloud else body.replace("\\", "")


async def created(fake, http, **overrides) -> tuple[jira.JiraDestination, RemoteRef]:
    destination = jira.build("jira", options(fake, **overrides), http)
    outcome = await destination.deliver(delivery(ChangeKind.OPENED))
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.reason
    return destination, outcome.remote


async def test_the_first_delivery_creates_the_issue_with_the_idempotency_label(fake, http):
    _, remote = await created(fake, http)
    assert remote == RemoteRef("OPS-1", f"{fake.base_url}/browse/OPS-1", {"id": "10000"})
    fields = fake.issues["OPS-1"]["fields"]
    assert fields["summary"] == "[P2] checkout latency"
    assert fields["issuetype"] == {"name": "Task"} and fields["priority"] == {"name": "High"}
    assert fields["labels"] == ["oncall", "correlator-inc-42:jira"]
    description = fields["description"]
    if fake.cloud:  # Atlassian Document Format, the incident's URL a link
        assert description["type"] == "doc"
        links = [node for block in description["content"] for node in block.get("content", [])
                 if node.get("marks")]
        assert links[0]["marks"] == [{"type": "link", "attrs": {"href": snapshot().url}}]
    else:  # wiki text, its special characters escaped
        assert "HighLatency \\[firing\\]" in description and f"[{snapshot().url}]" in description
    assert "HighLatency [firing] job=checkout (rule:checkout): p99 above 2s" in text_of(fake, description)


async def test_updates_edit_the_issue_and_comment_on_it(fake, http):
    destination, remote = await created(fake, http)
    updated = delivery(ChangeKind.UPDATED, remote, {"priority": {"from": "P2", "to": "P1"}}, actor="correlator",
                       priority="P1", title="checkout down")
    assert (await destination.deliver(updated)).kind is OutcomeKind.DELIVERED
    for kind, detail in ((ChangeKind.ACKNOWLEDGED, {}), (ChangeKind.COMMENTED, {"text": "rolling back"}),
                         (ChangeKind.ASSIGNED, {"team": "sre"})):
        assert (await destination.deliver(delivery(kind, remote, detail))).kind is OutcomeKind.DELIVERED
    fields = fake.issues["OPS-1"]["fields"]
    assert fields["priority"] == {"name": "Highest"} and fields["summary"] == "[P1] checkout down"
    comments = [text_of(fake, comment["body"]) for comment in fake.comments["OPS-1"]]
    assert comments[0].startswith("Priority changed from P2 to P1.")
    assert comments[1].startswith("Acknowledged by alice.")
    assert comments[2].startswith("alice commented: rolling back")
    assert comments[3].startswith("Assigned by alice, team: sre.")
    assert all(comment.rstrip().endswith(jira.COMMENT_MARKER) for comment in comments)


async def test_a_comment_applied_then_timed_out_is_not_posted_twice_and_a_changed_one_is(fake, aiohttp_server):
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.5)) as http:
        destination, remote = await created(fake, http)
        fake.hang_after_apply()
        with pytest.raises(asyncio.TimeoutError):  # the worker's: it retries
            await destination.deliver(delivery(ChangeKind.COMMENTED, remote, {"text": "rolling back"}, outbox_id=7))
        fake.release()
        retry = delivery(ChangeKind.COMMENTED, remote, {"text": "rolling back"}, attempt=2, outbox_id=7)
        assert (await destination.deliver(retry)).kind is OutcomeKind.DELIVERED
        posted = [text_of(fake, comment["body"]).split("\n")[0] for comment in fake.comments["OPS-1"]]
        assert posted == ["alice commented: rolling back"]
        assert ("GET", "/rest/api/%s/issue/OPS-1/comment" % fake.version) in fake.requests
        # the row's change grew meanwhile (later updates coalesced into it): its comment is posted
        grown = delivery(ChangeKind.COMMENTED, remote, {"text": "rolling back, then forward"}, attempt=3,
                         outbox_id=7)
        assert (await destination.deliver(grown)).kind is OutcomeKind.DELIVERED
        assert len(fake.comments["OPS-1"]) == 2


@pytest.mark.parametrize("resolve_by", ["Done", "Resolve"])  # the target status's name, the transition's
async def test_resolve_and_reopen_take_the_configured_transitions(fake, http, resolve_by):
    destination, remote = await created(fake, http, resolve_transition=resolve_by)
    resolved = delivery(ChangeKind.RESOLVED, remote, state="resolved")
    assert (await destination.deliver(resolved)).kind is OutcomeKind.DELIVERED
    assert fake.issues["OPS-1"]["fields"]["status"]["name"] == "Done"
    # a retry of a transition that was applied finds the issue there already
    transitions_before = fake.requests.count(("POST", f"/rest/api/{fake.version}/issue/OPS-1/transitions"))
    assert (await destination.deliver(resolved)).kind is OutcomeKind.DELIVERED
    assert fake.requests.count(("POST", f"/rest/api/{fake.version}/issue/OPS-1/transitions")) == transitions_before
    assert (await destination.deliver(delivery(ChangeKind.REOPENED, remote))).kind is OutcomeKind.DELIVERED
    assert fake.issues["OPS-1"]["fields"]["status"]["name"] == "To Do"


async def test_the_resolve_transition_sets_the_configured_resolution(fake, http):
    destination, remote = await created(fake, http, resolution="Fixed")
    assert (await destination.deliver(delivery(ChangeKind.RESOLVED, remote))).kind is OutcomeKind.DELIVERED
    assert fake.issues["OPS-1"]["fields"]["resolution"] == {"name": "Fixed"}
    assert (await destination.deliver(delivery(ChangeKind.REOPENED, remote))).kind is OutcomeKind.DELIVERED
    assert fake.issues["OPS-1"]["fields"]["resolution"] is None


async def test_a_missing_transition_is_a_dead_letter_naming_it(fake, http):
    destination, remote = await created(fake, http, resolve_transition="Close Issue")
    outcome = await destination.deliver(delivery(ChangeKind.RESOLVED, remote))
    assert outcome.kind is OutcomeKind.DEAD
    assert "no transition 'Close Issue' for OPS-1 in status 'To Do'" in outcome.reason
    assert "'Resolve' (to 'Done')" in outcome.reason
    assert fake.issues["OPS-1"]["fields"]["status"]["name"] == "To Do"


async def test_resolving_an_incident_never_created_there_is_skipped(fake, http):
    destination = jira.build("jira", options(fake), http)
    assert (await destination.deliver(delivery(ChangeKind.RESOLVED))).kind is OutcomeKind.SKIPPED
    assert fake.issues == {}


async def test_a_create_applied_then_timed_out_is_found_by_its_label_not_created_twice(fake, aiohttp_server):
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.5)) as http:
        destination = jira.build("jira", options(fake), http)
        fake.hang_after_apply()
        with pytest.raises(asyncio.TimeoutError):  # the worker's: it retries, marked ambiguous
            await destination.deliver(delivery(ChangeKind.OPENED))
        assert fake.hung.is_set() and list(fake.issues) == ["OPS-1"]
        fake.release()
        retry = delivery(ChangeKind.OPENED, create_sent_at=NOW - timedelta(seconds=5))
        outcome = await destination.deliver(retry)
        if fake.cloud:  # the search index has not seen the issue yet: wait, do not create a second one
            assert outcome.kind is OutcomeKind.RETRY and outcome.retry_after is None  # the worker's backoff
            assert "not found by its label yet" in outcome.reason
            fake.catch_up()
            outcome = await destination.deliver(retry)
        assert outcome.kind is OutcomeKind.DELIVERED and outcome.remote.key == "OPS-1"
        assert fake.creates() == 1 and list(fake.issues) == ["OPS-1"]
        assert ("POST", "/rest/api/3/search/jql" if fake.cloud else "/rest/api/2/search") in fake.requests


async def test_a_create_that_search_still_misses_after_the_lag_is_sent_again(fake, http):
    """The create in flight was lost (never applied): within the search lag the delivery waits,
    past it the issue is created."""
    destination = jira.build("jira", options(fake, search_lag_seconds=20), http)
    outcome = await destination.deliver(delivery(ChangeKind.UPDATED, create_sent_at=NOW - timedelta(seconds=19)))
    assert outcome.kind is OutcomeKind.RETRY and fake.issues == {}
    outcome = await destination.deliver(delivery(ChangeKind.UPDATED, create_sent_at=NOW - timedelta(seconds=21)))
    assert outcome.kind is OutcomeKind.DELIVERED and outcome.remote.key == "OPS-1"
    assert fake.creates() == 1


async def test_cloud_search_is_the_new_endpoint_the_legacy_one_is_gone(aiohttp_server, http):
    fake = await started("cloud", aiohttp_server)
    destination, _ = await created(fake, http)
    assert ("POST", "/rest/api/3/search/jql") not in fake.requests  # a first create searches nothing
    await destination.deliver(delivery(ChangeKind.OPENED, create_sent_at=NOW))
    assert ("POST", "/rest/api/3/search/jql") in fake.requests
    async with http.post(f"{fake.base_url}/rest/api/3/search", json={"jql": "project = OPS"},
                         headers={"Authorization": fake.authorization()}) as legacy:
        assert legacy.status == 410 and "CHANGE-2046" in (await legacy.json())["errorMessages"][0]


async def test_rate_limits_and_server_errors_are_retried_with_the_wait_jira_asks(fake, http):
    destination = jira.build("jira", options(fake), http)
    fake.fail(429, headers={"Retry-After": "7", "RateLimit-Reason": "jira-burst-based"})
    outcome = await destination.deliver(delivery(ChangeKind.OPENED))
    assert outcome.kind is OutcomeKind.RETRY and outcome.retry_after == 7
    reset = (datetime.now(timezone.utc) + timedelta(seconds=90)).isoformat(timespec="milliseconds")
    fake.fail(429, headers={"X-RateLimit-Reset": reset.replace("+00:00", "Z")})
    outcome = await destination.deliver(delivery(ChangeKind.OPENED))
    assert outcome.kind is OutcomeKind.RETRY and 80 < outcome.retry_after <= 90
    fake.fail(503)
    assert (await destination.deliver(delivery(ChangeKind.OPENED))).kind is OutcomeKind.RETRY
    assert fake.issues == {}
    remote = (await destination.deliver(delivery(ChangeKind.OPENED))).remote
    fake.fail(429, headers={"Retry-After": "3", "RateLimit-Reason": "jira-per-issue-on-write"})
    resolved = delivery(ChangeKind.RESOLVED, remote)
    assert (await destination.deliver(resolved)).retry_after == 3
    assert (await destination.deliver(resolved)).kind is OutcomeKind.DELIVERED
    assert fake.issues["OPS-1"]["fields"]["status"]["name"] == "Done"


async def test_refusals_are_dead_letters_with_jiras_error_text(fake, http):
    destination = jira.build("jira", options(fake, issue_type="Story", priorities={"P2": "Urgent"}), http)
    outcome = await destination.deliver(delivery(ChangeKind.OPENED))
    assert outcome.kind is OutcomeKind.DEAD
    assert "create issue: HTTP 400 issuetype: valid issue type is required; priority: Priority name 'Urgent' is " \
           "not valid" == outcome.reason
    _, remote = await created(fake, http)
    gone = RemoteRef("OPS-99")
    outcome = await destination.deliver(delivery(ChangeKind.ACKNOWLEDGED, gone))
    assert outcome.kind is OutcomeKind.DEAD and "HTTP 404 Issue does not exist" in outcome.reason
    wrong = options(fake, auth={"email": EMAIL, "api_token": "old"} if fake.cloud else {"token": "old"})
    outcome = await jira.build("jira", wrong, http).deliver(delivery(ChangeKind.ACKNOWLEDGED, remote))
    assert outcome.kind is OutcomeKind.DEAD and "HTTP 401 You are not authenticated" in outcome.reason


@pytest.mark.parametrize(("overrides", "field"), [
    ({"auth": {"token": PAT}}, "auth.email"),
    ({"flavor": "datacenter", "auth": {"email": EMAIL, "api_token": API_TOKEN}}, "auth.token"),
    ({"flavor": "server"}, "flavor"),
    ({"projekt": "OPS"}, "projekt"),
    ({"priorities": {"P9": "Low"}}, "priorities.P9"),
    ({"labels": ["on call"]}, "labels[0]"),
    ({"base_url": "jira.example.com"}, "base_url"),
    ({"search_lag_seconds": -1}, "search_lag_seconds"),
    ({"title_template": "{{ incident.title"}, "title_template"),
])
def test_option_errors_name_the_option(overrides, field):
    document = {"base_url": "https://example.atlassian.net", "project": "OPS",
                "auth": {"email": EMAIL, "api_token": API_TOKEN}} | overrides
    with pytest.raises(DestinationError) as error:
        jira.build("jira", document, None)
    assert error.value.field == field and str(error.value).startswith(f"forwarding.destinations[jira].{field}: ")


def test_a_template_failing_on_a_change_names_its_option(fake):
    destination = jira.build("jira", options(fake, comment_template="{{ detail.missing.deeper }}"), None)
    with pytest.raises(DestinationError, match="comment_template"):
        destination._comment.render(delivery(ChangeKind.ACKNOWLEDGED).change)


# -- inbound -----------------------------------------------------------------------------------


async def inbound_destination(fake, http, **overrides):
    account = ACCOUNT_ID if fake.cloud else DC_USER
    return await created(fake, http, account_id=account, **overrides)


async def test_jira_moving_the_issue_to_done_and_back_resolves_and_reopens(fake, http):
    destination, _ = await inbound_destination(fake, http)
    [resolve] = destination.parse_inbound(*webhook(fake.move("OPS-1", "Done"), SECRET))
    assert (resolve.action, resolve.remote_key, resolve.body) == ("resolve", "OPS-1",
                                                                  {"reason": "Jira OPS-1: To Do -> Done"})
    [reopen] = destination.parse_inbound(*webhook(fake.move("OPS-1", "To Do"), SECRET))
    assert (reopen.action, reopen.remote_key) == ("reopen", "OPS-1") and reopen.event_id != resolve.event_id
    # between two open statuses: neither
    assert destination.parse_inbound(*webhook(fake.move("OPS-1", "In Progress"), SECRET)) == []


async def test_a_webhook_sent_again_has_the_same_event_id(fake, http):
    destination, _ = await inbound_destination(fake, http)
    headers, body = webhook(fake.move("OPS-1", "Done"), SECRET)
    lowercase = {name.lower(): value for name, value in headers.items()}  # as some proxies pass them
    assert destination.parse_inbound(headers, body) == destination.parse_inbound(lowercase, body)
    [comment] = destination.parse_inbound(*webhook(fake.comment_as("OPS-1", "seen it"), SECRET))
    [again] = destination.parse_inbound(*webhook(fake.comment_as("OPS-1", "seen it"), SECRET))
    assert comment.event_id != again.event_id  # two comments with the same words are two comments


async def test_comments_made_in_jira_become_comments_and_ours_do_not_come_back(fake, http):
    destination, remote = await inbound_destination(fake, http)
    [comment] = destination.parse_inbound(*webhook(fake.comment_as("OPS-1", "db failover done"), SECRET))
    assert comment.action == "comment" and comment.remote_key == "OPS-1"
    assert comment.body == {"text": "Dana Operator in Jira OPS-1: db failover done"}
    await destination.deliver(delivery(ChangeKind.ACKNOWLEDGED, remote))
    ours = fake.comments["OPS-1"][-1]
    event = fake.comment_as("OPS-1", "")
    event["comment"] = ours  # Jira's event for the comment the adapter wrote, by its account
    assert destination.parse_inbound(*webhook(event, SECRET)) == []
    # without account_id the marker still tells: the same event, by someone else's account
    anonymous = jira.build("jira", options(fake), http)
    event["comment"] = {**ours, "author": fake.person()}
    assert anonymous.parse_inbound(*webhook(event, SECRET)) == []
    # a comment riding on an issue_updated event (issue_commented) is the same comment
    riding = fake.move("OPS-1", "In Progress")
    riding["changelog"]["items"] = []
    riding["comment"] = fake.comments["OPS-1"][0] | {"body": "db failover done"}
    assert destination.parse_inbound(*webhook(riding, SECRET))[0].event_id == comment.event_id
    # the adapter's own transition comes back as an event by its account
    assert destination.parse_inbound(*webhook(fake.move("OPS-1", "Done", user=fake.adapter_user()), SECRET)) == []


async def test_issues_not_created_by_the_adapter_are_ignored(fake, http):
    destination, _ = await inbound_destination(fake, http)
    event = fake.move("OPS-1", "Done")
    event["issue"] = {**event["issue"], "fields": {**event["issue"]["fields"], "labels": ["someone-elses"]}}
    assert destination.parse_inbound(*webhook(event, SECRET)) == []


async def test_inbound_requests_must_carry_the_webhook_signature(fake, http):
    destination, _ = await inbound_destination(fake, http)
    headers, body = webhook(fake.move("OPS-1", "Done"), SECRET)
    for bad in ({**headers, "X-Hub-Signature": "sha256=" + "0" * 64}, {**headers, "X-Hub-Signature": "sha1=abc"},
                {name: value for name, value in headers.items() if name != "X-Hub-Signature"}):
        with pytest.raises(InboundRejected) as rejected:
            destination.parse_inbound(bad, body)
        assert (rejected.value.status, rejected.value.field) == (401, "X-Hub-Signature")
    with pytest.raises(InboundRejected) as rejected:
        destination.parse_inbound(*webhook(fake.move("OPS-1", "Done"), "another secret"))
    assert rejected.value.status == 401
    with pytest.raises(InboundRejected) as rejected:
        destination.parse_inbound({"X-Hub-Signature": headers["X-Hub-Signature"]}, body + b" ")
    assert rejected.value.status == 401
    unsigned = jira.build("jira", options(fake, webhook_secret=""), http)
    with pytest.raises(InboundRejected) as rejected:
        unsigned.parse_inbound(headers, body)
    assert (rejected.value.status, rejected.value.field) == (403, "webhook_secret")
    with pytest.raises(InboundRejected) as rejected:
        destination.parse_inbound({"X-Hub-Signature": sign(SECRET, b"not json")}, b"not json")
    assert (rejected.value.status, rejected.value.field) == (400, "body")


def test_the_shipped_example_builds():
    document = yaml.safe_load((Path(__file__).parents[1] / "config/examples/forwarding-jira.yaml").read_text())

    def with_secrets(value):  # the configuration reads {env: ...} and {file: ...} before the adapter sees them
        if isinstance(value, dict):
            return "secret" if list(value) in (["env"], ["file"]) else {k: with_secrets(v) for k, v in value.items()}
        return value

    built = [jira.build(entry["name"], with_secrets(entry["options"]), None)
             for entry in document["forwarding"]["destinations"]]
    assert [destination.name for destination in built] == ["jira-ops", "jira-dc"]


def test_plain_text_becomes_adf_and_escaped_wiki_alike():
    text = "Alerts (2):\n- Up [firing] {job=\"a_b\"}\n- see https://x.example/a_b\n\nlast *line*"
    document = jira_markup.to_adf(text)
    assert [block["type"] for block in document["content"]] == ["paragraph", "bulletList", "paragraph"]
    assert jira_markup.adf_text(document) == "Alerts (2):\nUp [firing] {job=\"a_b\"}\nsee https://x.example/a_b\n" \
                                              "last *line*\n"
    assert jira_markup.to_wiki(text).splitlines() == [
        "Alerts (2):", "", r'* Up \[firing\] \{job="a\_b"\}', "* see [https://x.example/a_b]", "", r"last \*line\*"]
    # a text past the limit keeps its whole lines and says what it left out
    long = "\n".join(f"- alert {n:03} " + "x" * 90 for n in range(400))
    *alerts, note = jira_markup.adf_text(jira_markup.to_adf(long)).splitlines()
    assert alerts == [f"alert {n:03} " + "x" * 90 for n in range(len(alerts))] and 0 < len(alerts) < 400
    cut = len(long) - len("\n".join(long.splitlines()[:len(alerts)]))
    assert note == f"[{cut:,} more characters cut: Jira takes no more]"
    assert jira_markup.to_wiki(long).endswith(rf"\[{cut:,} more characters cut: Jira takes no more\]")
    summary = jira_markup.single_line("a\nb " + "x" * 300, 255)
    assert len(summary) == 255 and summary.startswith("a b x") and summary.endswith("\u2026")


@pytest.mark.parametrize("event", [
    {}, {"webhookEvent": "jira:issue_updated"}, {"webhookEvent": "jira:issue_updated", "issue": "OPS-1"},
    {"webhookEvent": "jira:issue_updated", "issue": {"key": "OPS-1", "fields": "x"}, "changelog": []},
    {"webhookEvent": "jira:issue_updated", "issue": {"key": "OPS-1", "fields": {"status": "Done"}},
     "changelog": {"items": [{"field": "status"}, "x"]}},
    {"webhookEvent": "comment_created", "issue": {"key": "OPS-1"}, "comment": {"body": None, "author": "x"}},
    {"webhookEvent": "jira:issue_deleted", "issue": {"key": "OPS-1"}},
])
def test_odd_or_unknown_events_are_read_without_failing(event):
    destination = jira.build("jira", {"base_url": "https://example.atlassian.net", "project": "OPS",
                                      "auth": {"email": EMAIL, "api_token": API_TOKEN}, "webhook_secret": SECRET},
                             None)
    assert destination.parse_inbound(*webhook(event, SECRET)) == []
