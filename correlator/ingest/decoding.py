"""Decoding a JSON body, with every failure a PayloadError naming where in the body it is."""

from __future__ import annotations

import re

import msgspec

from correlator.ingest.errors import FieldError, PayloadError, from_msgspec

# msgspec recurses once per nesting level and stops with RecursionError near the interpreter's
# limit (1,000 frames): a body that gets there is reported as nested more than this many levels.
REPORTED_DEPTH = 500
_SHOWN_SEGMENTS = 8  # of the path to the deep value; the rest is the same "[0]" or key over and over
_MAX_SCANNED_TOKENS = 2_000_000  # bounds the search for the path on a huge body
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},:]', re.S)


def decode(decoder: msgspec.json.Decoder, body: bytes):
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as error:
        raise PayloadError("invalid payload", [from_msgspec(error)]) from None
    except msgspec.DecodeError as error:
        raise PayloadError("malformed JSON", [FieldError("$", str(error))]) from None
    except RecursionError:
        raise PayloadError("JSON nested too deeply", [FieldError(
            deep_path(body), f"nested more than {REPORTED_DEPTH} levels deep")]) from None


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
