"""The board's routes: its pages (one HTML shell; the page's modules render each view from the
API), the login that turns the API's credentials into a session cookie, and the session's facts
the page needs (role, CSRF token)."""

from __future__ import annotations

import base64
import hmac
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from aiohttp import web

from correlator.board.access import Access
from correlator.board.sessions import COOKIE, CSRF_HEADER, Role
from correlator.board.throttle import held_off
from correlator.domain import FieldError
from correlator.http_errors import error_response, json_response

STATIC = Path(__file__).parent / "static"
# The board's views; each is a stable address (an incident's can be pasted into a ticket or chat).
VIEWS = ("/", "/incidents", "/incidents/{id}", "/alerts", "/alerts/{fingerprint}", "/rules", "/problems",
         "/problems/{id}")
# The board's own routes besides the views: HTML and a form, not the API (docs/board.md documents them).
OWN_ROUTES = ("/login", "/logout", "/board/session", "/board/static")
SECURITY_HEADERS = {
    # Only the board's own files run: no inline script, nothing from elsewhere, not framed.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
MAX_FIELD = 4096
# The login form is read before anyone is known: a few fields, never a large body (see
# docs/reliability.md on unauthenticated floods).
MAX_LOGIN_BODY = 16 * 1024


def _page(name: str) -> web.FileResponse:
    return web.FileResponse(STATIC / name, headers=SECURITY_HEADERS)


def _local_target(target: str) -> str:
    """Where to go after login: a path of this site only. Not `//host`, and no backslash or control
    character either (browsers read `/\\host` and `/<tab>/host` as `//host`)."""
    local = (target.startswith("/") and not target.startswith("//") and "\\" not in target
             and all(ord(c) >= 0x20 and c != "\x7f" for c in target))
    return target if local else "/"


def add_board_routes(app: web.Application, access: Access, secure_cookie: bool) -> None:
    throttle = access.throttle  # failures through the API count too

    async def view(request: web.Request) -> web.StreamResponse:
        if access.login_required and access.session(request) is None:
            raise web.HTTPSeeOther("/login?" + urlencode({"next": request.path_qs}))
        return _page("index.html")

    async def login_page(_request: web.Request) -> web.StreamResponse:
        return _page("login.html")

    async def login(request: web.Request) -> web.StreamResponse:
        if request.content_length is None or request.content_length > MAX_LOGIN_BODY:
            return error_response(413, "Request Entity Too Large",
                                  [FieldError("$", f"a login form has a Content-Length of at most {MAX_LOGIN_BODY} bytes")])
        form = await request.post()
        target = _local_target(str(form.get("next", "/")))
        token, username, password = (str(form.get(name, ""))[:MAX_FIELD] for name in ("token", "username", "password"))
        if token:
            authorization = f"Bearer {token}"
        else:
            authorization = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        if not access.login_required:  # the API is open: so is the board
            raise web.HTTPSeeOther(target)
        client = (request.remote or "", "" if token else username)
        wait = throttle.wait(client)
        if wait:  # guessing: the credentials are not even checked
            return held_off(wait, "token" if token else "username")
        role = access.role_of_credentials({"Authorization": authorization}) if (token or username) else None
        if role is None:
            throttle.failed(client)
            raise web.HTTPSeeOther("/login?" + urlencode({"failed": "1", "next": target}))
        throttle.succeeded(client)
        response = web.HTTPSeeOther(target)
        response.set_cookie(COOKIE, access.sessions.issue(role, time.time()), max_age=access.sessions.lifetime,
                            path="/", httponly=True, samesite="Strict", secure=secure_cookie)
        raise response

    async def logout(request: web.Request) -> web.StreamResponse:
        session = access.session(request)
        if session is not None and not hmac.compare_digest(request.headers.get(CSRF_HEADER, "").encode(),
                                                           session.csrf_token.encode()):
            return error_response(403, f"missing or wrong {CSRF_HEADER} header for this session")
        response = json_response({"status": "logged out"})
        response.del_cookie(COOKIE, path="/")
        return response

    async def session_facts(request: web.Request) -> web.Response:
        if not access.login_required:
            return json_response({"role": Role.OPERATOR.value, "csrf_token": "", "login_required": False})
        session = access.session(request)
        if session is None:
            return error_response(401, "unauthorized", login_url="/login?next=" + quote("/"))
        return json_response({"role": session.role.value, "csrf_token": session.csrf_token, "login_required": True,
                              "expires_at": session.expires_at})

    for path in VIEWS:
        app.router.add_get(path, view)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/board/session", session_facts)
    app.router.add_static("/board/static", STATIC)
