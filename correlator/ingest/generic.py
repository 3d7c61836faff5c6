"""The generic JSON format, and field mappings that ingest any other JSON webhook without code.

The generic format is itself one mapping (`GENERIC_FORMAT`):

    {"alerts": [{"labels": {...}, "annotations": {...}, "status": "firing" | "resolved",
                 "startsAt": RFC 3339 or epoch seconds, "endsAt": ..., "generatorURL": "..."}]}

Only `labels` is required. Without `status`, the alert follows the v2 API rules (firing until
endsAt, which defaults to now + resolve_timeout). With `status: firing` and no endsAt, it fires
until a `resolved` arrives or the source is silent about it for its silence timeout (the
mapping's `silence_timeout`, else `ingest.silence_timeout`; 0: never), so a source that re-sends
while a problem lasts but never sends "resolved" still resolves.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec

from correlator.domain import AlertStatus, Source
from correlator.ingest.decoding import decode
from correlator.ingest.errors import FieldError, PayloadError
from correlator.ingest.normalize import (EARLIEST_TIME, LATEST_TIME, TIME_RANGE, IngestPolicy, ParsedAlerts,
                                         build_alert, collect, has_nul_escape, to_utc)
from correlator.units import Seconds


class FieldMapping(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Where each alert field lives in a JSON body. Paths are dotted (`tags.host`, `items[0].id`);
    a path starting with `$.` is read from the body's root, any other from the alert item."""

    alerts: str = "$"  # the list of alerts; "$" alone means the body is one alert
    labels: str = "labels"
    label_fields: dict[str, str] = {}  # label name -> path of a scalar
    static_labels: dict[str, str] = {}
    annotations: str = "annotations"
    annotation_fields: dict[str, str] = {}
    status: str = "status"
    status_values: dict[str, str] = msgspec.field(
        default_factory=lambda: {"firing": "firing", "resolved": "resolved"})
    starts_at: str = "startsAt"
    ends_at: str = "endsAt"
    generator_url: str = "generatorURL"
    silence_timeout: Seconds | None = None  # None: ingest.silence_timeout; 0: never


GENERIC_FORMAT = FieldMapping(alerts="$.alerts")

_any_decoder = msgspec.json.Decoder()
_EPOCH_RANGE = (EARLIEST_TIME.timestamp(), LATEST_TIME.timestamp())
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_MISSING = object()


def _lookup(item: Any, root: Any, path: str) -> Any:
    node = item
    if path == "$" or path.startswith("$."):
        node, path = root, path[2:]
    for match in _PATH_TOKEN.finditer(path):
        key, index = match.groups()
        if key is not None and isinstance(node, dict) and key in node:
            node = node[key]
        elif index is not None and isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        elif key is not None and key.isdigit() and isinstance(node, list) and int(key) < len(node):
            node = node[int(key)]
        else:
            return _MISSING
    return node


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


class _Reader:
    """Reads one alert item through a mapping, collecting errors with their paths."""

    def __init__(self, mapping: FieldMapping, root: Any, item: Any, path: str):
        self.mapping, self.root, self.item, self.path = mapping, root, item, path
        self.errors: list[FieldError] = []

    def get(self, path: str) -> Any:
        return _lookup(self.item, self.root, path)

    def fail(self, field: str, reason: str) -> None:
        self.errors.append(FieldError(field if field.startswith("$.") else f"{self.path}.{field}", reason))

    def string_map(self, path: str, fields: dict[str, str]) -> dict[str, str]:
        result: dict[str, str] = {}
        found = self.get(path)
        if isinstance(found, dict):
            for name, value in found.items():
                if value is None:
                    continue
                text = _scalar_text(value)
                if text is None:
                    self.fail(f"{path}.{name}", f"expected a string, got {type(value).__name__}")
                else:
                    result[name] = text
        elif found is not _MISSING and found is not None:
            self.fail(path, f"expected an object, got {type(found).__name__}")
        for name, field_path in fields.items():
            value = self.get(field_path)
            if value is _MISSING or value is None:
                continue
            text = _scalar_text(value)
            if text is None:
                self.fail(field_path, f"expected a scalar for {name!r}, got {type(value).__name__}")
            else:
                result[name] = text
        return result

    def timestamp(self, path: str) -> datetime | None:
        value = self.get(path)
        if value is _MISSING or value is None or value == "":
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if _EPOCH_RANGE[0] <= value <= _EPOCH_RANGE[1]:  # also false for NaN
                return datetime.fromtimestamp(value, timezone.utc)
            self.fail(path, f"epoch seconds {TIME_RANGE}")
            return None
        if isinstance(value, str):
            try:
                return to_utc(msgspec.convert(value, datetime))
            except msgspec.ValidationError:
                pass
            except ValueError as error:
                self.fail(path, str(error))
                return None
        self.fail(path, "expected an RFC 3339 timestamp or epoch seconds")
        return None

    def status(self) -> AlertStatus | None:
        value = self.get(self.mapping.status)
        if value is _MISSING or value is None:
            return None
        mapped = self.mapping.status_values.get(str(value))
        if mapped is None:
            expected = ", ".join(repr(v) for v in self.mapping.status_values)
            self.fail(self.mapping.status, f"unknown status {value!r}, expected one of {expected}")
            return None
        return AlertStatus(mapped)


def parse_mapped(body: bytes, received_at: datetime, policy: IngestPolicy,
                 mapping: FieldMapping = GENERIC_FORMAT, source: str = Source.GENERIC) -> ParsedAlerts:
    root = decode(_any_decoder, body)
    nul = has_nul_escape(body)
    items = _lookup(root, root, mapping.alerts)
    if mapping.alerts == "$":
        items = [root]
    if not isinstance(items, list):
        where = mapping.alerts.removeprefix("$.")
        raise PayloadError("invalid payload", [FieldError(where, "expected a list of alerts")])
    prefix = mapping.alerts.removeprefix("$.") if mapping.alerts != "$" else "$"
    silence = policy.silence_timeout if mapping.silence_timeout is None else timedelta(seconds=mapping.silence_timeout)
    results = []
    for index, item in enumerate(items):
        path = f"{prefix}[{index}]" if prefix != "$" else "$"
        if not isinstance(item, dict):
            results.append([FieldError(path, f"expected an object, got {type(item).__name__}")])
            continue
        reader = _Reader(mapping, root, item, path)
        labels = {**mapping.static_labels, **reader.string_map(mapping.labels, mapping.label_fields)}
        annotations = reader.string_map(mapping.annotations, mapping.annotation_fields)
        status = reader.status()
        starts_at, ends_at = reader.timestamp(mapping.starts_at), reader.timestamp(mapping.ends_at)
        url = reader.get(mapping.generator_url)
        if reader.errors:
            results.append(reader.errors)
            continue
        if status is AlertStatus.FIRING and ends_at is None and silence:
            ends_at = max(received_at, starts_at or received_at) + silence
        results.append(build_alert(
            prefix, index, labels=labels, annotations=annotations, status=status,
            starts_at=starts_at, ends_at=ends_at,
            generator_url=url if isinstance(url, str) else "",
            fingerprint_hint="", source=source, received_at=received_at, policy=policy, may_hold_nul=nul,
        ))
    return collect(results)
