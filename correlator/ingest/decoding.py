"""Decoding a JSON body, with every failure a PayloadError naming where in the body it is, except
an alert's own: that one is reported against the alert, which is left out, so the others are kept."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import msgspec

from correlator.domain import FieldError, PayloadError, from_msgspec

# msgspec recurses once per nesting level and stops with RecursionError near the interpreter's
# limit (1,000 frames): a body that gets there is reported as nested more than this many levels.
REPORTED_DEPTH = 500
_SHOWN_SEGMENTS = 8  # of the path to the deep value; the rest is the same "[0]" or key over and over
_MAX_SCANNED_TOKENS = 2_000_000  # bounds the search for the path on a huge body
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},:]', re.S)


def decode(decoder: msgspec.json.Decoder, body: bytes):
    try:
        return decoder.decode(body)
    except (msgspec.DecodeError, RecursionError) as error:  # ValidationError is a DecodeError
        raise _payload_error(error, body) from None


def _payload_error(error: Exception, body: bytes) -> PayloadError:
    if isinstance(error, msgspec.ValidationError):
        return PayloadError("invalid payload", [from_msgspec(error)])
    if isinstance(error, RecursionError):
        return PayloadError("JSON nested too deeply", [FieldError(
            deep_path(body), f"nested more than {REPORTED_DEPTH} levels deep")])
    return PayloadError("malformed JSON", [FieldError("$", str(error))])


@dataclass(frozen=True, slots=True)
class AlertsDecoder:
    """Decodes a body holding a list of alerts: whole, which is fast, and when an alert in it does
    not validate, the envelope (the alerts left raw) and then each alert apart. An error of the
    envelope refuses the body; an alert's error is that alert's, at `where[index]`."""

    whole: msgspec.json.Decoder
    envelope: msgspec.json.Decoder  # the same shape with `msgspec.Raw` alerts
    alert: msgspec.json.Decoder
    where: str  # the path of the list: "alerts", or "" when the body is the list
    alerts_of: Callable[[Any], list]  # the list in a decoded body or envelope
    # A second look at an alert that does not decode: (raw alert, its path) -> the errors to report
    # instead of msgspec's, or None to report msgspec's.
    explain: Callable[[msgspec.Raw, str], list[FieldError] | None] = lambda raw, path: None

    def decode(self, body: bytes) -> tuple[Any, list]:
        """(the decoded body or envelope, each alert decoded or the [FieldError] that rejects it)."""
        try:
            message = self.whole.decode(body)
            return message, self.alerts_of(message)
        except msgspec.ValidationError:
            pass
        except (msgspec.DecodeError, RecursionError) as error:
            raise _payload_error(error, body) from None
        envelope = decode(self.envelope, body)
        return envelope, [self._alert(index, raw) for index, raw in enumerate(self.alerts_of(envelope))]

    def _alert(self, index: int, raw: msgspec.Raw):
        try:
            return self.alert.decode(raw)
        except (msgspec.DecodeError, RecursionError) as error:
            path = f"{self.where}[{index}]"
            if isinstance(error, msgspec.ValidationError) and (explained := self.explain(raw, path)):
                return explained
            return [FieldError(_within(path, found.path), found.reason)
                    for found in _payload_error(error, bytes(raw)).details]


def _within(outer: str, inner: str) -> str:
    """The path `inner` (relative to a value, "$" for the value itself) as seen from the body."""
    if inner == "$":
        return outer
    return f"{outer}{inner}" if inner.startswith("[") else f"{outer}.{inner}"


def deep_path(body: bytes, depth: int = REPORTED_DEPTH) -> str:
    """The path (`alerts[0].extra[0][0]`, its first few segments) to the first value nested more
    than `depth` levels deep; "$" when there is none or the body is too large to search."""
    stack: list[list] = []  # per open container: [is_object, current key or index, expecting a key]
    for count, match in enumerate(_TOKEN.finditer(body)):
        if count > _MAX_SCANNED_TOKENS:
            break
        token = match.group()
        if token in (b"{", b"["):
            if len(stack) >= depth:
                return _path(stack[:_SHOWN_SEGMENTS])
            stack.append([token == b"{", 0 if token == b"[" else "", token == b"{"])
        elif token in (b"}", b"]"):
            if stack:
                stack.pop()
        elif token == b",":
            if stack and stack[-1][0]:
                stack[-1][2] = True
            elif stack:
                stack[-1][1] += 1
        elif token != b":" and stack and stack[-1][0] and stack[-1][2]:
            stack[-1][1], stack[-1][2] = token[1:-1].decode(errors="replace"), False
    return "$"


def _path(frames: list[list]) -> str:
    path = ""
    for is_object, key, _ in frames:
        path += f".{key}" if is_object else f"[{key}]"
    return path.lstrip(".") or "$"
