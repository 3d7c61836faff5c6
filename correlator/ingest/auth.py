"""Request authentication as Alertmanager's `http_config` (and Grafana) can send it: bearer tokens,
basic auth, and an HMAC-SHA256 body signature. Several credentials may be valid at once (rotation);
every comparison is constant-time and every configured credential is compared."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

from correlator.config import AuthConfig

# A signature timestamp older than this (or this far in the future) is a replay.
MAX_SIGNATURE_AGE_SECONDS = 300


def _matches_any(presented: bytes, accepted: list[bytes]) -> bool:
    found = False
    for candidate in accepted:
        found |= hmac.compare_digest(presented, candidate)
    return found


class Authenticator:
    def __init__(self, config: AuthConfig, *, signed_bodies: bool = True):
        """`signed_bodies=False` for reads: a GET has no body to sign, so only bearer and basic apply."""
        self._tokens = [token.encode() for token in config.bearer_tokens]
        self._basic = [f"{c.username}:{c.password}".encode() for c in config.basic_auth]
        self._hmac = config.hmac if signed_bodies else None

    @property
    def required(self) -> bool:
        return bool(self._tokens or self._basic or self._hmac)

    @property
    def signs_bodies(self) -> bool:
        """Whether `check_body` needs the body: only then may it be read before the request is known
        to be authentic (and only within the size limit and the body memory budget)."""
        return self._hmac is not None

    def check_headers(self, headers) -> str | None:
        """None when the headers admit the request (the signature still to be checked against the
        body when `signs_bodies`), else the reason they do not (for logs, never the client)."""
        if self._tokens or self._basic:
            scheme, _, credentials = headers.get("Authorization", "").partition(" ")
            credentials = credentials.strip()
            if not credentials:
                return "missing or empty Authorization header"
            if scheme.lower() == "bearer" and self._tokens:
                if not _matches_any(credentials.encode(), self._tokens):
                    return "bearer token not accepted"
            elif scheme.lower() == "basic" and self._basic:
                try:
                    decoded = base64.b64decode(credentials, validate=True)
                except (binascii.Error, ValueError):
                    return "malformed basic credentials"
                if not _matches_any(decoded, self._basic):
                    return "basic credentials not accepted"
            else:
                return "missing or unsupported Authorization header"
        if self._hmac:
            if not headers.get(self._hmac.header, "").strip():
                return f"missing {self._hmac.header} header"
            if self._hmac.timestamp_header:
                stamp = headers.get(self._hmac.timestamp_header, "")
                if not stamp.isdigit() or abs(time.time() - int(stamp)) > MAX_SIGNATURE_AGE_SECONDS:
                    return f"missing or stale {self._hmac.timestamp_header} header"
        return None

    def check_body(self, headers, body: bytes) -> str | None:
        """The HMAC signature of `body` (headers already passed `check_headers`)."""
        if not self._hmac:
            return None
        presented = headers.get(self._hmac.header, "").strip().lower().encode()
        signature = hmac.new(self._hmac.secret.encode(), digestmod=hashlib.sha256)
        if self._hmac.timestamp_header:
            signature.update(headers.get(self._hmac.timestamp_header, "").encode() + b":")
        signature.update(body)  # fed apart: no copy of the body with the timestamp in front
        expected = signature.hexdigest().encode()
        return None if hmac.compare_digest(presented, expected) else "signature does not match"
