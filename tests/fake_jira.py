"""A Jira on 127.0.0.1 that keeps the REST contract the adapter relies on, for Cloud (REST v3, basic
auth with email and API token, Atlassian Document Format bodies, `POST /rest/api/3/search/jql` that
is eventually consistent and has no `total`, the legacy search answering 410) and Data Center
(REST v2, bearer personal access token, wiki text bodies, `/rest/api/2/search` with `total`).

Answers have Jira's shapes: 201 `{id, key, self}` on create, 204 on edit and transition, errors as
`{"errorMessages": [...], "errors": {field: message}}`, 401 without valid credentials, 404 for an
unknown issue. Faults are injected per request (`fail`), a create can be applied and then left
without an answer until released (`hang_after_apply`), and Cloud's search sees a new issue only after
`catch_up` (its index lags behind writes). `move` and `comment_as` act in Jira as a person would and
return the webhook event Jira would send."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import re
from dataclasses import dataclass, field

from aiohttp import web

EMAIL, API_TOKEN, PAT = "correlator@example.com", "cloud-api-token", "dc-personal-access-token"
ACCOUNT_ID = "5b10ac8d82e05b22cc7d4ef5"  # the adapter's account (Cloud accountId; Data Center user name below)
DC_USER = "correlator"
PROJECT = "OPS"
ISSUE_TYPES = ("Task", "Bug", "Incident")
PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")
STATUS_CATEGORIES = {"To Do": ("new", "To Do"), "In Progress": ("indeterminate", "In Progress"),
                     "Done": ("done", "Done")}
# id -> (name, target status): named unlike their statuses, so matching by either is exercised
TRANSITIONS = {"11": ("Reopen", "To Do"), "21": ("Start work", "In Progress"), "31": ("Resolve", "Done")}
SEARCH_JQL_FIELDS = {"jql", "nextPageToken", "maxResults", "fields", "expand", "properties", "fieldsByKeys",
                     "failFast", "reconcileIssues"}
_LABEL_QUERY = re.compile(r'^project = "(?P<project>(?:[^"\\]|\\.)*)" AND labels = "(?P<label>(?:[^"\\]|\\.)*)"$')


def _errors(status: int, messages: list[str] | None = None, errors: dict | None = None, headers=None) -> web.Response:
    return web.json_response({"errorMessages": messages or [], "errors": errors or {}}, status=status, headers=headers)


class Refused(Exception):
    """Raised by a handler's step: the middleware answers with `response`."""

    def __init__(self, response: web.Response):
        self.response = response


def _is_adf(value: object) -> bool:
    return isinstance(value, dict) and value.get("type") == "doc" and value.get("version") == 1 \
        and isinstance(value.get("content"), list)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)


class FakeJira:
    def __init__(self, flavor: str):
        self.flavor = flavor
        self.cloud = flavor == "cloud"
        self.version = "3" if self.cloud else "2"
        self.issues: dict[str, dict] = {}
        self.comments: dict[str, list[dict]] = {}
        self.requests: list[tuple[str, str]] = []
        self.indexed: set[str] = set()  # what Cloud's search sees; Data Center's sees every issue
        self._faults: list[Fault] = []
        self._hang: asyncio.Event | None = None
        self.hung = asyncio.Event()  # set once a hung request has been applied
        self._ids = itertools.count(10000)
        self._comment_ids = itertools.count(20000)
        self._events = itertools.count(1)

    # -- test controls ---------------------------------------------------------------------------

    def fail(self, status: int, times: int = 1, headers: dict[str, str] | None = None, message: str = "") -> None:
        """Answer the next `times` requests with `status` (and these headers) before doing anything."""
        self._faults += [Fault(status, headers or {}, [message] if message else [])] * times

    def hang_after_apply(self) -> None:
        """Apply the next write, then keep its answer back until `release` (a timeout after the
        request was applied, as the client sees it)."""
        self._hang = asyncio.Event()

    def release(self) -> None:
        if self._hang is not None:
            self._hang.set()

    def catch_up(self) -> None:
        """Cloud's search index reaches every issue written so far."""
        self.indexed = set(self.issues)

    def creates(self) -> int:
        return sum(1 for method, path in self.requests if method == "POST" and path.endswith("/issue"))

    def move(self, key: str, status: str, user: dict | None = None) -> dict:
        """A person moves the issue in Jira: the jira:issue_updated event Jira sends."""
        issue = self.issues[key]
        old = issue["fields"]["status"]
        old_resolution = issue["fields"]["resolution"]
        self._set_status(issue, status)
        items = [{"field": "status", "fieldtype": "jira", "fieldId": "status", "from": old["id"],
                  "fromString": old["name"], "to": issue["fields"]["status"]["id"], "toString": status}]
        new_resolution = issue["fields"]["resolution"]
        if old_resolution != new_resolution:
            items.append({"field": "resolution", "fieldtype": "jira", "fieldId": "resolution",
                          "from": old_resolution and "10000", "fromString": old_resolution and old_resolution["name"],
                          "to": new_resolution and "10000", "toString": new_resolution and new_resolution["name"]})
        return {"timestamp": 1764723600000, "webhookEvent": "jira:issue_updated",
                "issue_event_type_name": "issue_generic", "user": user or self.person(),
                "issue": issue, "changelog": {"id": str(next(self._events) + 30000), "items": items}}

    def comment_as(self, key: str, text: str, author: dict | None = None) -> dict:
        """A person comments in Jira: the comment_created event (webhook bodies carry wiki text)."""
        comment = self._add_comment(key, text, author or self.person())
        issue = self.issues[key]
        return {"timestamp": 1764723600000, "webhookEvent": "comment_created", "comment": comment,
                "issue": {"id": issue["id"], "key": key, "self": issue["self"],
                          "fields": {name: issue["fields"][name] for name in ("summary", "status", "priority",
                                                                                "issuetype", "project")}}}

    def person(self) -> dict:
        if self.cloud:
            return {"accountId": "712020:aa11bb22", "displayName": "Dana Operator", "accountType": "atlassian"}
        return {"name": "dana", "key": "JIRAUSER10100", "displayName": "Dana Operator"}

    def adapter_user(self) -> dict:
        if self.cloud:
            return {"accountId": ACCOUNT_ID, "displayName": "correlator", "accountType": "atlassian"}
        return {"name": DC_USER, "key": "JIRAUSER10000", "displayName": "correlator"}

    # -- the application -------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        api = f"/rest/api/{self.version}"
        app.router.add_post(f"{api}/issue", self._create)
        app.router.add_get(f"{api}/issue/{{key}}", self._get)
        app.router.add_put(f"{api}/issue/{{key}}", self._edit)
        app.router.add_post(f"{api}/issue/{{key}}/comment", self._comment)
        app.router.add_get(f"{api}/issue/{{key}}/comment", self._list_comments)
        app.router.add_get(f"{api}/issue/{{key}}/transitions", self._transitions)
        app.router.add_post(f"{api}/issue/{{key}}/transitions", self._transition)
        if self.cloud:
            app.router.add_post("/rest/api/3/search/jql", self._search)
            for legacy in ("/rest/api/3/search", "/rest/api/2/search"):
                app.router.add_route("*", legacy, self._removed_search)
        else:
            app.router.add_post("/rest/api/2/search", self._search)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        self.requests.append((request.method, request.path))
        if not self._authorized(request.headers.get("Authorization", "")):
            return _errors(401, ["You are not authenticated. Authentication required to perform this operation."])
        if self._faults:
            fault = self._faults.pop(0)
            return _errors(fault.status, fault.messages or [f"injected HTTP {fault.status}"], headers=fault.headers)
        try:
            response = await handler(request)
        except Refused as refused:
            return refused.response
        if self._hang is not None and request.method != "GET":
            hang, self._hang = self._hang, None
            self.hung.set()
            await hang.wait()
        return response

    def authorization(self) -> str:
        """The header that admits: basic email:API token on Cloud, the bearer PAT on Data Center."""
        if self.cloud:
            return "Basic " + base64.b64encode(f"{EMAIL}:{API_TOKEN}".encode()).decode()
        return f"Bearer {PAT}"

    def _authorized(self, authorization: str) -> bool:
        return hmac.compare_digest(authorization, self.authorization())

    async def _json(self, request: web.Request) -> dict:
        try:
            body = await request.json()
        except ValueError:
            raise Refused(_errors(400, ["Unexpected character: the request body is not JSON."])) from None
        if not isinstance(body, dict):
            raise Refused(_errors(400, ["Can not deserialize the request body."]))
        return body

    def _text_error(self, value: object) -> str | None:
        if self.cloud and not _is_adf(value):
            return "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
        if not self.cloud and not isinstance(value, str):
            return "Operation value must be a string"
        return None

    def _field_errors(self, fields: dict, creating: bool) -> dict[str, str]:
        errors = {}
        if creating and (fields.get("project") or {}).get("key") != PROJECT:
            errors["project"] = "valid project is required"
        if creating and (fields.get("issuetype") or {}).get("name") not in ISSUE_TYPES:
            errors["issuetype"] = "valid issue type is required"
        if creating or "summary" in fields:
            summary = fields.get("summary")
            if not isinstance(summary, str) or not summary.strip():
                errors["summary"] = "You must specify a summary of the issue."
            elif "\n" in summary or "\r" in summary:
                errors["summary"] = "The summary is invalid because it contains newline characters."
            elif len(summary) > 255:
                errors["summary"] = "Summary must be less than 255 characters."
        if "description" in fields and (problem := self._text_error(fields["description"])):
            errors["description"] = problem
        if "priority" in fields and (fields["priority"] or {}).get("name") not in PRIORITIES:
            errors["priority"] = f"Priority name '{(fields['priority'] or {}).get('name')}' is not valid"
        labels = fields.get("labels", [])
        if not isinstance(labels, list) or any(not isinstance(label, str) or " " in label for label in labels):
            errors["labels"] = "The label contains spaces which is invalid."
        return errors

    def _issue(self, request: web.Request) -> dict:
        issue = self.issues.get(request.match_info["key"])
        if issue is None:
            raise Refused(_errors(404, ["Issue does not exist or you do not have permission to see it."]))
        return issue

    async def _create(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        fields = body.get("fields")
        if not isinstance(fields, dict):
            return _errors(400, ["Issue must contain the fields object."])
        if errors := self._field_errors(fields, creating=True):
            return _errors(400, errors=errors)
        issue_id = str(next(self._ids))
        key = f"{PROJECT}-{len(self.issues) + 1}"
        base = f"{request.scheme}://{request.host}"
        issue = {"id": issue_id, "key": key, "self": f"{base}/rest/api/{self.version}/issue/{issue_id}",
                 "fields": {"project": {"key": PROJECT}, "issuetype": {"name": fields["issuetype"]["name"]},
                            "summary": fields["summary"], "description": fields.get("description"),
                            "labels": list(fields.get("labels", [])),
                            "priority": {"name": (fields.get("priority") or {}).get("name", "Medium")},
                            "status": {}, "resolution": None}}
        self._set_status(issue, "To Do")
        self.issues[key] = issue
        self.comments[key] = []
        if not self.cloud:
            self.indexed.add(key)
        return web.json_response({"id": issue_id, "key": key, "self": issue["self"]}, status=201)

    async def _get(self, request: web.Request) -> web.Response:
        issue = self._issue(request)
        wanted = request.query.get("fields")
        fields = issue["fields"] if not wanted else {name: issue["fields"].get(name) for name in wanted.split(",")}
        return web.json_response({**issue, "fields": fields})

    async def _edit(self, request: web.Request) -> web.Response:
        issue = self._issue(request)
        body = await self._json(request)
        fields = body.get("fields") or {}
        if errors := self._field_errors(fields, creating=False):
            return _errors(400, errors=errors)
        issue["fields"].update(fields)
        return web.Response(status=204)

    async def _comment(self, request: web.Request) -> web.Response:
        issue = self._issue(request)
        body = await self._json(request)
        if "body" not in body:
            return _errors(400, errors={"comment": "Comment body can not be empty!"})
        if problem := self._text_error(body["body"]):
            return _errors(400, errors={"comment": problem})
        return web.json_response(self._add_comment(issue["key"], body["body"], self.adapter_user()), status=201)

    async def _list_comments(self, request: web.Request) -> web.Response:
        """GET issue/{key}/comment: a page of `{startAt, maxResults, total, comments}`, oldest first
        unless `orderBy=-created`."""
        issue = self._issue(request)
        try:
            start, limit = int(request.query.get("startAt", 0)), min(int(request.query.get("maxResults", 50)), 100)
        except ValueError:
            return _errors(400, ["startAt and maxResults must be numbers."])
        order = request.query.get("orderBy", "created")
        if order.lstrip("+-") != "created":
            return _errors(400, [f"Invalid orderBy: {order}"])
        comments = self.comments[issue["key"]][::-1 if order.startswith("-") else 1]
        return web.json_response({"startAt": start, "maxResults": limit, "total": len(comments),
                                  "comments": comments[start:start + limit]})

    def _add_comment(self, key: str, body: object, author: dict) -> dict:
        comment = {"id": str(next(self._comment_ids)), "body": body, "author": author, "updateAuthor": author,
                   "created": "2026-12-03T01:10:00.000+0000"}
        self.comments[key].append(comment)
        return comment

    def _available(self, issue: dict) -> list[dict]:
        current = issue["fields"]["status"]["name"]
        return [{"id": transition_id, "name": name, "hasScreen": False, "isAvailable": True,
                 "to": self._status(target)}
                for transition_id, (name, target) in TRANSITIONS.items() if target != current]

    async def _transitions(self, request: web.Request) -> web.Response:
        issue = self._issue(request)
        return web.json_response({"expand": "transitions", "transitions": self._available(issue)})

    async def _transition(self, request: web.Request) -> web.Response:
        issue = self._issue(request)
        body = await self._json(request)
        wanted = str((body.get("transition") or {}).get("id"))
        chosen = next((transition for transition in self._available(issue) if transition["id"] == wanted), None)
        if chosen is None:
            return _errors(400, [f"Transition id '{wanted}' is not valid for this issue."])
        resolution = (body.get("fields") or {}).get("resolution")
        if resolution is not None and chosen["to"]["statusCategory"]["key"] != "done":
            return _errors(400, errors={"resolution": "Field 'resolution' cannot be set. It is not on the "
                                                      "appropriate screen, or unknown."})
        self._set_status(issue, chosen["to"]["name"])
        if resolution is not None:
            issue["fields"]["resolution"] = {"name": resolution.get("name")}
        return web.Response(status=204)

    def _status(self, name: str) -> dict:
        category, category_name = STATUS_CATEGORIES[name]
        return {"name": name, "id": str(list(STATUS_CATEGORIES).index(name) + 1),
                "statusCategory": {"key": category, "name": category_name}}

    def _set_status(self, issue: dict, name: str) -> None:
        issue["fields"]["status"] = self._status(name)
        issue["fields"]["resolution"] = {"name": "Done"} if STATUS_CATEGORIES[name][0] == "done" else None

    async def _removed_search(self, request: web.Request) -> web.Response:
        return _errors(410, ["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
                             "A full migration guideline is available at "
                             "https://developer.atlassian.com/changelog/#CHANGE-2046"])

    async def _search(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if self.cloud and set(body) - SEARCH_JQL_FIELDS:
            return _errors(400, ["Invalid request payload. Refer to the REST API documentation and try again."])
        query = _LABEL_QUERY.match(str(body.get("jql", "")))
        if query is None:  # the fake understands the adapter's one query
            return _errors(400, [f"Error in the JQL Query: the fake does not parse {body.get('jql')!r}"])
        project, label = (json.loads(f'"{query.group(name)}"') for name in ("project", "label"))
        found = [{"id": issue["id"], "key": key, "self": issue["self"],
                  "fields": {"status": issue["fields"]["status"]}}
                 for key, issue in self.issues.items()
                 if key in self.indexed and issue["fields"]["project"]["key"] == project
                 and label in issue["fields"]["labels"]][:int(body.get("maxResults", 50))]
        if self.cloud:
            return web.json_response({"issues": found, "isLast": True})
        return web.json_response({"startAt": 0, "maxResults": int(body.get("maxResults", 50)), "total": len(found),
                                  "issues": found})


def webhook(event: dict, secret: str) -> tuple[dict[str, str], bytes]:
    """Headers and body as Jira posts a webhook signed with `secret`."""
    body = json.dumps(event).encode()
    return {"Content-Type": "application/json", "X-Hub-Signature": sign(secret, body),
            "X-Atlassian-Webhook-Identifier": hashlib.sha1(body).hexdigest()[:16]}, body
