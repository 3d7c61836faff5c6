"""Signed session cookies and their CSRF tokens. A session is `role.expiry.nonce` signed with
HMAC-SHA256; nothing is stored server-side, so every replica given the same secret accepts it. The
CSRF token is derived from the session (HMAC of its nonce under another label): a page from another
site can make the browser send the cookie, never read the token."""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass

COOKIE = "correlator_session"
CSRF_HEADER = "X-CSRF-Token"


class Role(enum.Enum):
    OPERATOR = "operator"  # reads and acts
    READER = "reader"  # reads only


@dataclass(frozen=True)
class Session:
    role: Role
    expires_at: int  # unix seconds
    csrf_token: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class SessionSigner:
    def __init__(self, secret: bytes, lifetime_seconds: float):
        self._secret, self.lifetime = secret, int(lifetime_seconds)

    def _mac(self, label: bytes, payload: str) -> str:
        return _b64(hmac.new(self._secret, label + b"\0" + payload.encode(), hashlib.sha256).digest())

    def issue(self, role: Role, now: float) -> str:
        payload = f"{role.value}.{int(now) + self.lifetime}.{_b64(secrets.token_bytes(16))}"
        return f"{payload}.{self._mac(b'session', payload)}"

    def read(self, cookie: str, now: float) -> Session | None:
        """The session the cookie holds, or None when it is forged, malformed or expired."""
        payload, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature.encode(), self._mac(b"session", payload).encode()):
            return None
        role, expires, nonce = (payload.split(".") + ["", "", ""])[:3]
        if role not in {r.value for r in Role} or not expires.isdigit() or int(expires) <= now:
            return None
        return Session(Role(role), int(expires), self._mac(b"csrf", nonce))
