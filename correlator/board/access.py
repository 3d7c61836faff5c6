"""Who may call the API: a request presents the API's credentials (operator), `auth.read_only`'s
(reader), or the board's session cookie. Readers read; a write from one is answered 403. A write
made with the cookie must carry the session's CSRF token, which only the board's own pages can read.
A client that keeps presenting wrong credentials is held off (board/throttle.py), here as on the
board's login form: the two count together."""

from __future__ import annotations

import hmac
import time

from aiohttp import web

from correlator.board.sessions import COOKIE, CSRF_HEADER, Role, Session, SessionSigner
from correlator.board.throttle import LoginThrottle, api_client, held_off
from correlator.http_errors import error_response
from correlator.ingest.auth import Authenticator

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Access:
    def __init__(self, operator: Authenticator, reader: Authenticator, sessions: SessionSigner,
                 throttle: LoginThrottle | None = None):
        self.operator, self.reader, self.sessions = operator, reader, sessions
        self.throttle = throttle or LoginThrottle()

    @property
    def login_required(self) -> bool:
        return self.operator.required

    def role_of_credentials(self, headers) -> Role | None:
        if self.operator.check_headers(headers) is None:
            return Role.OPERATOR
        if self.reader.required and self.reader.check_headers(headers) is None:
            return Role.READER
        return None

    def session(self, request: web.Request) -> Session | None:
        cookie = request.cookies.get(COOKIE)
        return self.sessions.read(cookie, time.time()) if cookie else None

    def guard(self, handler):
        """`handler` behind the access rules."""
        async def handle(request: web.Request) -> web.Response:
            if "Authorization" in request.headers or not self.login_required:
                client = api_client(request)
                wait = self.throttle.wait(client)  # (an open API records no failure)
                if wait:  # guessing: the credentials are not even checked
                    return held_off(wait, "Authorization")
                role = self.role_of_credentials(request.headers)
                if role is None:
                    self.throttle.failed(client)
                    return error_response(401, "unauthorized")
                self.throttle.succeeded(client)
            else:
                session = self.session(request)
                if session is None:
                    return error_response(401, "unauthorized")
                role = session.role
                if request.method not in SAFE_METHODS and not hmac.compare_digest(
                        request.headers.get(CSRF_HEADER, "").encode(), session.csrf_token.encode()):
                    return error_response(403, f"missing or wrong {CSRF_HEADER} header for this session")
            if request.method not in SAFE_METHODS and role is not Role.OPERATOR:
                return error_response(403, "read-only credentials may not act")
            return await handler(request)
        return handle
