"""Inputs for fuzzing the parsers and the HTTP API: hypothesis strategies of hostile JSON and alert
shapes, and a byte mutator over captured payloads. Shared by tests/test_fuzz_*.py and bench/fuzz.py."""

from __future__ import annotations

import json
import random
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import strategies as st

CAPTURES = Path(__file__).parent / "testdata" / "captures"
# Where each ingest source is posted, and which captures are bodies of it.
ENDPOINTS = {"alertmanager": "/api/v1/alertmanager", "prometheus": "/api/v2/alerts", "generic": "/api/v1/alerts"}
CAPTURE_GLOBS = {"alertmanager": "alertmanager-*/webhook-*.json", "prometheus": "prometheus-*/api-v2-alerts-*.json"}

# Values that broke something once, or sit at a boundary of what the parsers accept.
EDGE_NUMBERS = [0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**300, 1e18, 1e300, -1e300,
                5e-324, 0.5, 253402300800, 9223372036.854775807, 9223372037]
EDGE_TIMES = ["9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
              "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00-14:00", "1970-01-01T00:00:00Z",
              "1969-12-31T23:59:59.999999Z", "2262-04-11T23:47:16Z", "2262-04-11T23:47:17Z",
              "2026-11-23T04:21:56.525541258+02:00", "2026-02-30T00:00:00Z", "2026-11-23T24:00:00Z",
              "2026-11-23T04:21:56+24:00", "2026-11-23", "now", ""]
EDGE_TEXT = ["\x00", "a\x00b", "\ud800", "\udfff", "\U0010ffff", "\u2028", "{{ .Labels }}", "é" * 3, "x" * 5000]
# Fragments the mutator splices into captured bodies.
TOKENS = [b"[" * 3000, b"{\"a\":" * 2000, b"]" * 10, b"}", b"\"\\u0000\"", b"\"\\ud800\"", b"1e300", b"-1",
          b"18446744073709551616", b"NaN", b"null", b"true", b"\"\"", b"[]", b"{}", b",", b":", b"\"",
          b"\\", b"\xff", b"\"9999-12-31T23:59:59-14:00\"", b"\"0001-01-01T00:00:00Z\"", b"1e18"]


def text() -> st.SearchStrategy[str]:
    """Any text, and lone surrogates and NUL (json.dumps escapes them as \\udxxx, \\u0000)."""
    return st.one_of(st.text(max_size=10), st.sampled_from(EDGE_TEXT))


def numbers() -> st.SearchStrategy:
    return st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(EDGE_NUMBERS))


def json_values(max_leaves: int = 20) -> st.SearchStrategy:
    scalars = st.one_of(st.none(), st.booleans(), numbers(), text())
    return st.recursive(scalars, lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(text(), children, max_size=4)), max_leaves=max_leaves)


@st.composite
def rfc3339(draw) -> str:
    moment = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)))
    minutes = draw(st.integers(-14 * 60, 14 * 60))
    offset = "Z" if minutes == 0 else f"{'+' if minutes > 0 else '-'}{abs(minutes) // 60:02}:{abs(minutes) % 60:02}"
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + draw(st.sampled_from(["", ".5", ".123456789"])) + offset


def wire_times() -> st.SearchStrategy[str]:
    """RFC 3339 strings as a typed decoder accepts them, often at or past the ends of the range."""
    return st.one_of(st.sampled_from(EDGE_TIMES), rfc3339())


def times() -> st.SearchStrategy:
    return st.one_of(wire_times(), numbers(), text())


def label_maps() -> st.SearchStrategy:
    return st.one_of(st.dictionaries(text(), st.one_of(text(), numbers(), st.none()), max_size=4),
                     st.sampled_from([None, [], "x", 1]))


@st.composite
def alert_objects(draw) -> dict:
    """An alert-shaped object: well typed, so typed decoders let it through to validation, with hostile
    strings and times; sometimes one field of any type, a missing field or an extra field."""
    alert = {"status": draw(st.sampled_from(["firing", "resolved"])),
             "labels": draw(st.dictionaries(text(), text(), max_size=4)),
             "annotations": draw(st.dictionaries(text(), text(), max_size=2)),
             "startsAt": draw(wire_times()), "endsAt": draw(wire_times()), "generatorURL": draw(text()),
             "fingerprint": draw(st.sampled_from(["1686c8247a6f29cc", "", "XYZ"]))}
    anything = {"status": text(), "labels": label_maps(), "annotations": label_maps(), "startsAt": times(),
                "endsAt": times(), "generatorURL": json_values(3), "fingerprint": json_values(3)}
    change = draw(st.sampled_from([None, None, "replace", "drop", "extra"]))
    name = draw(st.sampled_from(sorted(anything)))
    if change == "replace":
        alert[name] = draw(anything[name])
    elif change == "drop":
        del alert[name]
    elif change == "extra":
        alert[draw(text())] = draw(json_values(4))
    return alert


def bodies(source: str) -> st.SearchStrategy:
    """Bodies shaped like what `source` expects, with hostile fields."""
    alerts = st.lists(alert_objects(), max_size=4)
    if source == "alertmanager":
        return st.fixed_dictionaries({"version": st.sampled_from(["4", "4", "1", "3"]), "alerts": alerts},
                                     optional={"status": text(), "extra": json_values(4)})
    if source == "prometheus":
        return alerts
    return st.fixed_dictionaries({"alerts": alerts}, optional={"extra": json_values(4)})


def encode(value) -> bytes:
    """JSON with non-ASCII escaped, so lone surrogates become `\\udxxx` escapes instead of failing."""
    return json.dumps(value, ensure_ascii=True).encode()


@st.composite
def valid_alerts(draw) -> dict:
    """A webhook alert Alertmanager itself would send: the round-trip property's input."""
    names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8)
    labels = draw(st.dictionaries(names, names, min_size=1, max_size=4))
    starts = draw(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2262, 4, 10),
                               timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-14)),
                                                          timezone(timedelta(hours=5, minutes=30))])))
    resolved = draw(st.booleans())
    ends = starts + timedelta(seconds=draw(st.integers(0, 86400))) if resolved else None
    return {"status": "resolved" if resolved else "firing", "labels": labels,
            "annotations": draw(st.dictionaries(names, names, max_size=3)),
            "startsAt": starts.isoformat(), "endsAt": ends.isoformat() if ends else "0001-01-01T00:00:00Z",
            "generatorURL": draw(names)}


def captures() -> dict[str, list[bytes]]:
    """Captured bodies by source; the generic source gets the Prometheus ones wrapped in its envelope."""
    found = {source: [path.read_bytes() for path in sorted(CAPTURES.glob(pattern))]
             for source, pattern in CAPTURE_GLOBS.items()}
    found["generic"] = [b'{"alerts": ' + body + b"}" for body in found["prometheus"]]
    return found


_STRING = re.compile(rb'"[^"\\]*"')
_REPLACEMENTS = TOKENS + [encode(value) for value in EDGE_TIMES + EDGE_TEXT + EDGE_NUMBERS]


def mutate(body: bytes, rng: random.Random, rounds: int = 3) -> bytes:
    """A few random edits: replace a string (a key or a value) with a hostile one, flip a byte,
    delete or repeat a span, splice in a hostile token."""
    data = bytearray(body)
    for _ in range(rng.randint(1, rounds)):
        at = rng.randrange(len(data) + 1)
        choice = rng.randrange(6)
        strings = list(_STRING.finditer(data)) if choice >= 4 else []
        if strings:
            span = rng.choice(strings).span()
            data[span[0]:span[1]] = rng.choice(_REPLACEMENTS)
        elif choice == 0 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif choice == 1:
            del data[at:at + rng.randint(1, 16)]
        elif choice == 2:
            data[at:at] = data[at:at + rng.randint(1, 64)] * rng.randint(1, 4)
        else:
            data[at:at] = rng.choice(TOKENS)
    return bytes(data)
