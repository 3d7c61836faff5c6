"""Jira Cloud and Jira Data Center: one issue per incident, comments for its updates, workflow
transitions for resolve and reopen, and Jira's webhooks back as operator actions.

Jira has no server-side idempotency, so the issue carries a label made from the idempotency key;
an ambiguous create (sent, outcome unknown) is looked up by that label before creating again. Jira
Cloud's search (`POST /rest/api/3/search/jql`) is eventually consistent: while the create in
flight is younger than `search_lag_seconds` and the search finds nothing, the answer is RETRY,
not a second issue. Cloud speaks REST v3 with Atlassian Document Format bodies and basic auth
(email and API token); Data Center speaks REST v2 with wiki text and a personal access token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Annotated, Literal, Mapping

import aiohttp
import msgspec

from correlator.forward import jira_markup
from correlator.forward.contract import (ChangeKind, Delivery, DestinationError, InboundChange, InboundRejected,
                                         Outcome, OutcomeKind, RemoteRef, outcome_of_response, read_options)
from correlator.forward.templates import DEFAULT_BODY, DEFAULT_TITLE, Template

TYPE = "jira"

LABEL_PREFIX = "correlator-"
# The last line of every comment this adapter writes: a comment webhook carrying it is our own
# comment coming back, not a person's.
COMMENT_MARKER = "Sent by correlator."
MAX_SUMMARY = 255  # Jira refuses a longer summary
RECENT_COMMENTS = 50  # the latest comments a retry reads for the one an earlier attempt may have posted
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
# Jira's default priority scheme.
DEFAULT_PRIORITIES = {"P1": "Highest", "P2": "High", "P3": "Medium", "P4": "Low", "P5": "Lowest"}
DEFAULT_COMMENT = """\
{% if kind == "updated" %}
{% for field, values in detail | dictsort %}
{{ field | capitalize }} changed from {{ values.get("from") }} to {{ values.get("to") }}.
{% endfor %}
{% elif kind == "commented" %}
{{ actor }} commented: {{ detail.get("text", "") }}
{% else %}
{{ kind | capitalize }} by {{ actor }}
{%- for name, value in detail | dictsort if value %}, {{ name }}: {{ value }}{% endfor %}.
{% endif %}
Now {{ incident.priority }} (impact {{ incident.impact }} x urgency {{ incident.urgency }}), {{ incident.state }}\
{% if incident.url %}: {{ incident.url }}{% endif %}
"""

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class JiraAuth(msgspec.Struct, forbid_unknown_fields=True):
    email: str = ""  # Cloud: the account's email, with api_token (basic auth)
    api_token: str = ""
    token: str = ""  # Data Center: a personal access token (bearer)


class JiraOptions(msgspec.Struct, forbid_unknown_fields=True):
    base_url: NonEmpty  # https://example.atlassian.net, or the Data Center base URL with its context path
    project: NonEmpty  # the project key
    auth: JiraAuth
    flavor: Literal["cloud", "datacenter"] = "cloud"
    issue_type: NonEmpty = "Task"
    priorities: dict[str, str] = msgspec.field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    resolve_transition: NonEmpty = "Done"  # a transition name or the status it leads to
    reopen_transition: NonEmpty = "To Do"
    resolution: str = ""  # set with the resolve transition, where its screen asks for one (e.g. "Done")
    labels: list[str] = msgspec.field(default_factory=list)  # added to each issue, with the idempotency label
    search_lag_seconds: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    webhook_secret: str = ""  # the webhook's secret: inbound requests must carry its X-Hub-Signature
    account_id: str = ""  # who the adapter acts as (Cloud accountId, Data Center user name): its events are ours
    title_template: str = DEFAULT_TITLE
    body_template: str = DEFAULT_BODY
    comment_template: str = DEFAULT_COMMENT


def _checked(name: str, options: JiraOptions) -> JiraOptions:
    if not options.base_url.startswith(("https://", "http://")):
        raise DestinationError(name, "base_url", f"expected an http(s) URL, got {options.base_url!r}")
    if options.flavor == "cloud":
        for field in ("email", "api_token"):
            if not getattr(options.auth, field):
                raise DestinationError(name, f"auth.{field}", "required with flavor cloud (basic auth: email and "
                                       "API token)")
    elif not options.auth.token:
        raise DestinationError(name, "auth.token", "required with flavor datacenter (a personal access token)")
    for priority, jira_priority in options.priorities.items():
        if priority not in PRIORITIES:
            raise DestinationError(name, f"priorities.{priority}", f"expected one of {', '.join(PRIORITIES)}")
        if not jira_priority:
            raise DestinationError(name, f"priorities.{priority}", "empty: name a Jira priority or leave it out")
    for number, label in enumerate(options.labels):
        if not label or any(character.isspace() for character in label):
            raise DestinationError(name, f"labels[{number}]", f"Jira labels cannot be empty or contain spaces: "
                                   f"{label!r}")
    return options


def idempotency_label(key: str) -> str:
    """The label that finds the incident's issue again (Jira labels cannot hold spaces)."""
    return LABEL_PREFIX + "-".join(key.split())


def _jql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _error_text(body: str) -> str:
    """Jira's `{"errorMessages": [...], "errors": {field: message}}` as one line, else the body."""
    try:
        answer = json.loads(body)
    except ValueError:
        return body
    if not isinstance(answer, dict):
        return body
    messages = [str(message) for message in answer.get("errorMessages") or []]
    errors = answer.get("errors")
    if isinstance(errors, dict):
        messages += [f"{field}: {message}" for field, message in errors.items()]
    return "; ".join(messages) or body


def _object(value: object) -> dict:
    """`value` if it is a JSON object, else an empty one: a webhook's optional parts read safely."""
    return value if isinstance(value, dict) else {}


@dataclass(eq=False)
class _Answered(Exception):
    """A call answered with something other than 2xx: this outcome ends the delivery."""

    outcome: Outcome


class JiraDestination:
    def __init__(self, name: str, options: JiraOptions, http: aiohttp.ClientSession):
        self.name = name
        self._options = options
        self._http = http
        self._cloud = options.flavor == "cloud"
        self._base = options.base_url.rstrip("/")
        self._api = f"{self._base}/rest/api/{3 if self._cloud else 2}"
        if self._cloud:
            basic = base64.b64encode(f"{options.auth.email}:{options.auth.api_token}".encode()).decode()
            authorization = f"Basic {basic}"
        else:
            authorization = f"Bearer {options.auth.token}"
        self._headers = {"Authorization": authorization, "Accept": "application/json"}
        self._title = Template(options.title_template, name, "title_template")
        self._body = Template(options.body_template, name, "body_template")
        self._comment = Template(options.comment_template, name, "comment_template")

    async def close(self) -> None:
        """Nothing of its own to close: the HTTP session is shared."""

    # -- outbound ------------------------------------------------------------------------------

    async def deliver(self, delivery: Delivery) -> Outcome:
        try:
            return await self._deliver(delivery)
        except _Answered as answered:
            return answered.outcome

    async def _deliver(self, delivery: Delivery) -> Outcome:
        kind = delivery.change.kind
        remote = delivery.remote
        if remote is None:
            if delivery.ambiguous:
                found = await self._find(delivery.idempotency_key)
                if found is not None:  # the create in flight was applied; it carried this change
                    return Outcome.delivered(found)
                waited = (delivery.now - delivery.create_sent_at).total_seconds()
                if waited < self._options.search_lag_seconds:
                    # no retry_after: that pauses the whole destination, and only this incident waits
                    return Outcome(OutcomeKind.RETRY, f"the create sent {waited:.0f}s ago is not found by its label "
                                   f"yet; Jira's search may lag up to {self._options.search_lag_seconds:g}s")
            if kind in (ChangeKind.RESOLVED, ChangeKind.CLOSED):
                return Outcome.skipped(f"{kind.value}: no Jira issue was created for this incident")
            return Outcome.delivered(await self._create(delivery))
        if kind is ChangeKind.OPENED:
            return Outcome.delivered(remote)
        if kind in (ChangeKind.RESOLVED, ChangeKind.CLOSED):
            resolution = {"resolution": {"name": self._options.resolution}} if self._options.resolution else {}
            await self._transition(remote.key, self._options.resolve_transition, to_done=True, fields=resolution)
        elif kind is ChangeKind.REOPENED:
            await self._transition(remote.key, self._options.reopen_transition, to_done=False)
        else:
            if kind is ChangeKind.UPDATED:
                await self._call("PUT", f"issue/{remote.key}", f"update {remote.key}",
                                 {"fields": self._incident_fields(delivery)})
            await self._post_comment(remote.key, delivery)
        return Outcome.delivered(remote)

    async def _post_comment(self, key: str, delivery: Delivery) -> None:
        """The change as a comment, its last line naming the outbox row and text it carries: a
        retry (an earlier attempt's answer may have been lost after Jira applied it) first looks
        for that line among the issue's latest comments, and posts nothing when it is there."""
        text = self._comment.render(delivery.change)
        # (no character wiki markup escapes: Data Center stores the line as sent)
        signed = f"({delivery.signature(text)}) {COMMENT_MARKER}"
        if delivery.attempt > 1 and await self._commented(key, signed):
            return
        await self._call("POST", f"issue/{key}/comment", f"comment on {key}",
                         {"body": self._document(text + "\n\n" + signed)})

    async def _commented(self, key: str, signed: str) -> bool:
        listed = await self._call("GET", f"issue/{key}/comment?orderBy=-created&maxResults={RECENT_COMMENTS}",
                                  f"read the comments of {key}")
        return any(signed in _comment_text(comment.get("body")) for comment in listed.get("comments") or []
                   if isinstance(comment, dict))

    def _document(self, text: str):
        return jira_markup.to_adf(text) if self._cloud else jira_markup.to_wiki(text)

    def _incident_fields(self, delivery: Delivery) -> dict:
        """What the issue shows of the incident: its summary, description and priority."""
        fields = {"summary": jira_markup.single_line(self._title.render(delivery.change), MAX_SUMMARY),
                  "description": self._document(self._body.render(delivery.change))}
        priority = self._options.priorities.get(delivery.change.incident.priority)
        if priority:
            fields["priority"] = {"name": priority}
        return fields

    async def _create(self, delivery: Delivery) -> RemoteRef:
        fields = {"project": {"key": self._options.project}, "issuetype": {"name": self._options.issue_type},
                  **self._incident_fields(delivery),
                  "labels": [*self._options.labels, idempotency_label(delivery.idempotency_key)]}
        created = await self._call("POST", "issue", "create issue", {"fields": fields})
        if not isinstance(created.get("key"), str):
            raise _Answered(Outcome(OutcomeKind.DEAD, f"create issue: the answer has no issue key: {created!r:.300}"))
        return self._ref(created["key"], str(created.get("id", "")))

    def _ref(self, key: str, issue_id: str) -> RemoteRef:
        return RemoteRef(key=key, url=f"{self._base}/browse/{key}", extra={"id": issue_id} if issue_id else {})

    async def _find(self, idempotency_key: str) -> RemoteRef | None:
        """The issue an earlier create made for this key, if the search sees it (the oldest, if several)."""
        jql = (f"project = {_jql_string(self._options.project)} AND "
               f"labels = {_jql_string(idempotency_label(idempotency_key))}")
        found = await self._call("POST", "search/jql" if self._cloud else "search", "search issues by label",
                                 {"jql": jql, "fields": ["status"], "maxResults": 10})
        issues = [issue for issue in found.get("issues") or [] if isinstance(issue, dict) and issue.get("key")]
        if not issues:
            return None
        first = min(issues, key=lambda issue: int(issue["id"]) if str(issue.get("id", "")).isdigit() else 0)
        return self._ref(first["key"], str(first.get("id", "")))

    async def _transition(self, key: str, wanted: str, to_done: bool, fields: dict | None = None) -> None:
        """Take the transition named `wanted` (or leading to a status of that name). With none, the
        issue may be there already (a retry after a transition that was applied): its status
        category says; otherwise the missing transition is a dead letter naming it."""
        listed = await self._call("GET", f"issue/{key}/transitions", f"list transitions of {key}")
        transitions = [transition for transition in listed.get("transitions") or [] if isinstance(transition, dict)]
        for transition in transitions:
            target = _object(transition.get("to")).get("name", "")
            if wanted.casefold() in (str(transition.get("name", "")).casefold(), str(target).casefold()):
                request = {"transition": {"id": transition.get("id")}, **({"fields": fields} if fields else {})}
                await self._call("POST", f"issue/{key}/transitions",
                                 f"transition {key} with {transition.get('name')!r}", request)
                return
        issue = await self._call("GET", f"issue/{key}?fields=status", f"read the status of {key}")
        status = _object(_object(issue.get("fields")).get("status"))
        if (_object(status.get("statusCategory")).get("key") == "done") == to_done:
            return
        available = ", ".join(f"{transition.get('name')!r} (to {_object(transition.get('to')).get('name')!r})"
                              for transition in transitions) or "none"
        raise _Answered(Outcome(OutcomeKind.DEAD, f"no transition {wanted!r} for {key} in status "
                                f"{status.get('name')!r}; available: {available}"))

    async def _call(self, method: str, path: str, what: str, body: dict | None = None) -> dict:
        """The JSON answer of a 2xx (`{}` when empty); any other answer raises its outcome."""
        async with self._http.request(method, f"{self._api}/{path}", json=body, headers=self._headers) as response:
            text = await response.text()
            outcome = outcome_of_response(response.status, response.headers, _error_text(text), what)
        if outcome is not None:
            raise _Answered(outcome)
        if not text.strip():
            return {}
        try:
            answer = json.loads(text)
        except ValueError:
            raise _Answered(Outcome(OutcomeKind.DEAD, f"{what}: HTTP {response.status} with a body that is not JSON "
                                    f"(is base_url Jira's?): {text[:200]}")) from None
        return answer if isinstance(answer, dict) else {}

    # -- inbound -------------------------------------------------------------------------------

    def parse_inbound(self, headers: Mapping[str, str], body: bytes) -> list[InboundChange]:
        """Jira webhook events as operator actions: an issue moved into a Done status resolves, one
        moved out of Done (its resolution cleared) reopens, a comment becomes a comment. Events made
        by the adapter itself and issues without our label are ignored."""
        lowered = {name.lower(): value for name, value in headers.items()}
        self._verify(lowered.get("x-hub-signature", ""), body)
        try:
            event = json.loads(body)
        except ValueError as error:
            raise InboundRejected(400, "body", f"not JSON: {error}") from None
        if not isinstance(event, dict):
            raise InboundRejected(400, "body", "expected a JSON object (a Jira webhook event)")
        issue = event.get("issue")
        if not isinstance(issue, dict) or not isinstance(issue.get("key"), str):
            return []
        fields = _object(issue.get("fields"))
        labels = fields.get("labels")
        if isinstance(labels, list) and not any(str(label).startswith(LABEL_PREFIX) for label in labels):
            return []  # an issue the adapter did not create
        if self._by_us(event.get("user")):
            return []
        fallback_id = lowered.get("x-atlassian-webhook-identifier") or hashlib.sha256(body).hexdigest()[:32]
        name = event.get("webhookEvent")
        if name == "jira:issue_updated":  # a comment may ride on it too (issue_commented), with the same id
            return [*self._status_changes(event, issue["key"], fields, fallback_id),
                    *self._comments(event, issue["key"], fallback_id)]
        if name == "comment_created":
            return self._comments(event, issue["key"], fallback_id)
        return []

    def _verify(self, signature: str, body: bytes) -> None:
        if not self._options.webhook_secret:
            raise InboundRejected(403, "webhook_secret", f"inbound events for {self.name} are off: set the "
                                  "destination's webhook_secret and the same secret on the Jira webhook")
        method, _, digest = signature.partition("=")
        if method != "sha256" or not digest:
            raise InboundRejected(401, "X-Hub-Signature", "missing or not sha256=<hex HMAC of the body>")
        expected = hmac.new(self._options.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, digest.strip().lower()):
            raise InboundRejected(401, "X-Hub-Signature", "does not match the body signed with webhook_secret")

    def _by_us(self, user: object) -> bool:
        account = self._options.account_id
        return bool(account) and isinstance(user, dict) and account in (
            user.get("accountId"), user.get("name"), user.get("key"))

    def _status_changes(self, event: dict, key: str, fields: dict, fallback_id: str) -> list[InboundChange]:
        changelog = _object(event.get("changelog"))
        items = [item for item in changelog.get("items") or [] if isinstance(item, dict)]
        status = next((item for item in items if item.get("field") == "status"), None)
        if status is None:
            return []
        event_id = f"{key}:changelog:{changelog['id']}" if changelog.get("id") else f"{fallback_id}:status"
        reason = f"Jira {key}: {status.get('fromString')} -> {status.get('toString')}"
        category = _object(_object(fields.get("status")).get("statusCategory")).get("key")
        if category == "done":
            return [InboundChange(event_id, "resolve", {"reason": reason}, remote_key=key)]
        # Leaving Done clears the resolution (what Jira's workflows do); a move between two open
        # statuses does not, and is not a reopen.
        if any(item.get("field") == "resolution" and not item.get("to") and not item.get("toString")
               for item in items):
            return [InboundChange(event_id, "reopen", {"reason": reason}, remote_key=key)]
        return []

    def _comments(self, event: dict, key: str, fallback_id: str) -> list[InboundChange]:
        comment = event.get("comment")
        if not isinstance(comment, dict) or self._by_us(comment.get("author")):
            return []
        text = _comment_text(comment.get("body")).strip()
        if not text or COMMENT_MARKER in text:
            return []
        author = _object(comment.get("author"))
        who = author.get("displayName") or author.get("name") or "someone"
        event_id = f"{key}:comment:{comment['id']}" if comment.get("id") else f"{fallback_id}:comment"
        return [InboundChange(event_id, "comment", {"text": f"{who} in Jira {key}: {text}"}, remote_key=key)]


def _comment_text(body: object) -> str:
    """A comment's text: Cloud's bodies are documents (ADF), Data Center's wiki text."""
    return jira_markup.adf_text(body) if isinstance(body, dict) else str(body or "")


def build(name: str, options: Mapping[str, object], http: aiohttp.ClientSession) -> JiraDestination:
    return JiraDestination(name, _checked(name, read_options(JiraOptions, name, options)), http)
