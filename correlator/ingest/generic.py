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

from correlator.domain import AlertStatus, FieldError, PayloadError, Source
from correlator.ingest.decoding import decode
from correlator.ingest.normalize import (EARLIEST_TIME, LATEST_TIME, TIME_RANGE, IngestPolicy, ParsedAlerts,
                                         build_alert, collect, has_nul_escape, to_utc)
from correlator.units import Seconds


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


class LabelList(msgspec.Struct, frozen=True, kw_only=True):
    """Labels read from the list at `path`: of objects holding a label's name under `name` and its
    value under `value`, or of strings cut at the first `split` (a string in place of the list is
    first cut at `delimiter`). A name given twice gets its values sorted and joined with commas."""

    path: str
    name: str = ""
    value: str = ""
    split: str = ""
    delimiter: str = ","


class FieldMapping(msgspec.Struct, frozen=True):
    """Where each alert field lives in a JSON body (`ingest.mappings`, validated by config). Paths are
    dotted (`tags.host`, `items[0].id`); a path starting with `$.` is read from the body's root, any
    other from the alert item. Sender values (the keys of the value maps) are texts."""

    alerts: str = "$"  # the list of alerts; "$" alone means the body is one alert
    labels: str = "labels"
    label_lists: list[LabelList] = []
    label_fields: dict[str, str] = {}  # label name -> path of a scalar
    static_labels: dict[str, str] = {}
    label_values: dict[str, dict[str, str]] = {}  # label name -> {sender's value: label value}
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


class _Reader:
    """Reads one alert item through a mapping, collecting errors with their paths."""

    def __init__(self, mapping: FieldMapping, root: Any, item: Any, path: str):
        self.mapping, self.root, self.item, self.path = mapping, root, item, path
        self.errors: list[FieldError] = []

    def get(self, path: str) -> Any:
        return _lookup(self.item, self.root, path)

    def fail(self, field: str, reason: str) -> None:
        self.errors.append(FieldError(field if field.startswith("$.") else f"{self.path}.{field}", reason))

    def object_map(self, path: str) -> dict[str, str]:
        """The object at `path` as names and texts (null values left out)."""
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
        return result

    def fields(self, fields: dict[str, str]) -> dict[str, str]:
        """Name -> the text of the scalar at its path (absent and null ones left out)."""
        result: dict[str, str] = {}
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

    def label_list(self, spec: LabelList) -> dict[str, str]:
        found = self.get(spec.path)
        if found is _MISSING or found is None:
            return {}
        if spec.split and isinstance(found, str):
            found = found.split(spec.delimiter)
        if not isinstance(found, list):
            self.fail(spec.path, f"expected a list, got {type(found).__name__}")
            return {}
        values: dict[str, set[str]] = {}
        for index, entry in enumerate(found):
            pair = _label_pair(spec, entry)
            if isinstance(pair, str):
                self.fail(f"{spec.path}[{index}]", pair)
            elif pair[1]:
                values.setdefault(pair[0], set()).add(pair[1])
        return {name: ",".join(sorted(texts)) for name, texts in values.items()}

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
        mapped = self.mapping.status_values.get(_scalar_text(value))
        if mapped is None:
            expected = ", ".join(repr(v) for v in self.mapping.status_values)
            self.fail(self.mapping.status, f"unknown status {value!r}, expected one of {expected}")
            return None
        return AlertStatus(mapped)


def _label_pair(spec: LabelList, entry: Any) -> tuple[str, str] | str:
    """(name, value) of one entry of a label list ("" for no value), or why it has not that shape."""
    if spec.split:
        if not isinstance(entry, str):
            return f"expected a string, got {type(entry).__name__}"
        name, _, value = entry.partition(spec.split)
        return name.strip(), value.strip()
    if not isinstance(entry, dict):
        return f"expected an object with {spec.name!r} and {spec.value!r}, got {type(entry).__name__}"
    name, value = _scalar_text(entry.get(spec.name)), entry.get(spec.value)
    if name is None:
        return f"expected the label name in {spec.name!r}, a string"
    value = "" if value is None else _scalar_text(value)
    return (name, value) if value is not None else f"expected a scalar in {spec.value!r}"


def parse_mapped(body: bytes, received_at: datetime, policy: IngestPolicy,
                 mapping: FieldMapping = GENERIC_FORMAT, source: str = Source.GENERIC) -> ParsedAlerts:
    root = decode(_any_decoder, body)
    nul, long = has_nul_escape(body), len(body) > policy.limits.max_annotations_length
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
        labels = {**mapping.static_labels, **reader.object_map(mapping.labels)}
        for spec in mapping.label_lists:
            labels.update(reader.label_list(spec))
        labels.update(reader.fields(mapping.label_fields))
        for name, values in mapping.label_values.items():
            if labels.get(name) in values:
                labels[name] = values[labels[name]]
        annotations = {**reader.object_map(mapping.annotations), **reader.fields(mapping.annotation_fields)}
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
            annotations_may_exceed=long,
        ))
    return collect(results)
