"""Alertmanager's validation and defaults, applied to every source alike.

Each parser only maps its wire shape onto `build_alert`; the rules of what makes a valid
alert (Alertmanager's `alert.Validate` and `postAlertsHandler` defaults) live here once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Mapping

import msgspec

from correlator.domain import Alert, AlertStatus, FieldError
from correlator.ingest.fingerprint import fingerprint

_CLASSIC_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_FINGERPRINT = re.compile(r"[0-9a-f]{16}")
NUL_REASON = "must not contain the NUL character (U+0000)"


class AlertLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Sizes one alert may have (`ingest.limits`), in characters."""

    max_labels: int = 128
    max_label_name_length: int = 1024
    max_label_value_length: int = 16 * 1024
    max_annotations_length: int = 256 * 1024  # every annotation's name and value together


@dataclass(frozen=True, slots=True)
class IngestPolicy:
    resolve_timeout: timedelta = timedelta(minutes=5)
    # Generic sources: a `firing` alert without endsAt resolves this long after it was last sent
    # (a source that never sends "resolved"); None: it fires until a "resolved" arrives.
    silence_timeout: timedelta | None = timedelta(hours=24)
    # Alertmanager >= 0.27 accepts any UTF-8 label name; "classic" is Prometheus 2's [a-zA-Z_][a-zA-Z0-9_]*.
    classic_label_names: bool = False
    limits: AlertLimits = AlertLimits()
    # Per source, labels left out of the fingerprint (kept on the alert): HA replicas' `replica`.
    fingerprint_ignore_labels: Mapping[str, frozenset[str]] = field(default_factory=dict)


# Alert times must fit int64 nanoseconds since the epoch (Go's `UnixNano`, which Alertmanager, Prometheus
# and most receivers of forwarded incidents use) and leave room for adding timeouts in Python.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST_TIME = datetime(2262, 4, 11, 23, 47, 16, tzinfo=timezone.utc)
TIME_RANGE = f"must lie between {EARLIEST_TIME:%Y-%m-%dT%H:%M:%SZ} and {LATEST_TIME:%Y-%m-%dT%H:%M:%SZ}"


def to_utc(value: datetime | None) -> datetime | None:
    """UTC, with Go's zero time (year 1, "not set") as None. Never shifts year 1: that would overflow.
    ValueError (saying the range) for any other time outside EARLIEST_TIME..LATEST_TIME."""
    if value is None:
        return None
    year = value.year
    if value.tzinfo is timezone.utc and 1970 <= year < 2262:  # nearly every time: nothing to check
        return value
    if year <= 1:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    elif value.tzinfo is not timezone.utc:
        if year == 9999:  # shifting by the offset could pass datetime's last year
            raise ValueError(TIME_RANGE)
        value = value.astimezone(timezone.utc)
    if not EARLIEST_TIME <= value <= LATEST_TIME:
        raise ValueError(TIME_RANGE)
    return value


def _name_errors(path: str, names: Mapping[str, str]) -> list[FieldError]:
    return [FieldError(path, "empty name") if not name else
            FieldError(f"{path}.{name}", "invalid name: must match [a-zA-Z_][a-zA-Z0-9_]*")
            for name in names if not name or not _CLASSIC_LABEL_NAME.fullmatch(name)]


def _alert_path(where: str, index: int) -> str:
    return f"{where}[{index}]" if where != "$" else "$"


def _time_errors(path: str, times: dict[str, datetime | None]) -> list[FieldError]:
    errors = []
    for name, value in times.items():
        try:
            to_utc(value)
        except ValueError as error:
            errors.append(FieldError(f"{path}.{name}", str(error)))
    return errors


def has_nul_escape(body: bytes) -> bool:
    """JSON can only carry U+0000 escaped (a raw NUL byte is malformed)."""
    return b"\\u0000" in body


def _nul_errors(path: str, labels: Mapping[str, str], annotations: Mapping[str, str],
                generator_url: str) -> list[FieldError]:
    """PostgreSQL's text columns cannot hold U+0000, and no monitoring system sends it."""
    errors = [FieldError(f"{path}.{field}" + ("" if "\0" in name else f".{name}"), NUL_REASON)
              for field, pairs in (("labels", labels), ("annotations", annotations))
              for name, value in pairs.items() if "\0" in name or "\0" in value]
    if "\0" in generator_url:
        errors.append(FieldError(f"{path}.generatorURL", NUL_REASON))
    return errors


def labels_held_to(limits: AlertLimits) -> Any:
    """The type of a label set that msgspec holds to `limits` as it decodes, in C: the typed parsers
    need no Python pass over every label."""
    name = Annotated[str, msgspec.Meta(max_length=limits.max_label_name_length)]
    value = Annotated[str, msgspec.Meta(max_length=limits.max_label_value_length)]
    return Annotated[dict[name, value], msgspec.Meta(max_length=limits.max_labels)]


def _labels_within(labels: Mapping[str, str], limits: AlertLimits) -> bool:
    return (len(labels) <= limits.max_labels
            and max(map(len, labels), default=0) <= limits.max_label_name_length
            and max(map(len, labels.values()), default=0) <= limits.max_label_value_length)


def _annotations_size(annotations: Mapping[str, str]) -> int:
    return sum(map(len, annotations)) + sum(map(len, annotations.values()))


def limit_errors(path: str, labels: Mapping[str, str], annotations: Mapping[str, str],
                 limits: AlertLimits) -> list[FieldError]:
    """What of the alert at `path` is over `limits` (empty when nothing is)."""
    errors = []
    if len(labels) > limits.max_labels:
        errors.append(FieldError(f"{path}.labels", f"{len(labels)} labels, more than ingest.limits.max_labels "
                                                   f"({limits.max_labels})"))
    for name, value in labels.items():
        if len(name) > limits.max_label_name_length:
            errors.append(FieldError(f"{path}.labels", f"label name {name[:40]!r}... of {len(name)} characters, longer "
                                     f"than ingest.limits.max_label_name_length ({limits.max_label_name_length})"))
        elif len(value) > limits.max_label_value_length:
            errors.append(FieldError(f"{path}.labels.{name}", f"value of {len(value)} characters, longer than "
                                     f"ingest.limits.max_label_value_length ({limits.max_label_value_length})"))
    if (size := _annotations_size(annotations)) > limits.max_annotations_length:
        errors.append(FieldError(f"{path}.annotations", f"{size} characters of names and values, more than "
                                 f"ingest.limits.max_annotations_length ({limits.max_annotations_length})"))
    return errors


def _alert_fingerprint(labels: Mapping[str, str], hint: str, ignored: frozenset[str] | None) -> str:
    """The sender's fingerprint when it sent one, else Alertmanager's, over the labels not `ignored`."""
    if ignored and not ignored.isdisjoint(labels):  # the sender's fingerprint counts the ignored labels
        return fingerprint({name: value for name, value in labels.items() if name not in ignored})
    return hint if _FINGERPRINT.fullmatch(hint) else fingerprint(labels)


def _names_valid(names: Mapping[str, str], policy: IngestPolicy) -> bool:
    if not policy.classic_label_names:
        return "" not in names  # UTF-8 names (Alertmanager >= 0.27) need only be non-empty
    return all(_CLASSIC_LABEL_NAME.fullmatch(name) for name in names)


def build_alert(
    where: str,
    index: int,
    *,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    status: AlertStatus | None,
    starts_at: datetime | None,
    ends_at: datetime | None,
    generator_url: str,
    fingerprint_hint: str,
    source: str,
    received_at: datetime,
    policy: IngestPolicy,
    may_hold_nul: bool = True,
    labels_held: bool = False,
    annotations_may_exceed: bool = True,
) -> Alert | list[FieldError]:
    """Validate and complete the alert at `where[index]`; `status=None` means "derive it from
    endsAt" (v2 API). Errors carry the path of the offending field. The other flags spare checks
    the caller knows are needless: `may_hold_nul`, false when the body has no `\\u0000` escape;
    `labels_held`, true when the decoder held the labels to `policy.limits` (`labels_held_to`);
    `annotations_may_exceed`, false when the whole body is shorter than the annotations' limit."""
    try:
        starts_at, ends_at = to_utc(starts_at), to_utc(ends_at)
    except ValueError:  # rare: find which one (paths are formatted only on the way out, as below)
        return _time_errors(_alert_path(where, index), {"startsAt": starts_at, "endsAt": ends_at})
    if may_hold_nul and (errors := _nul_errors(_alert_path(where, index), labels, annotations, generator_url)):
        return errors
    limits = policy.limits
    if not (labels_held or _labels_within(labels, limits)) \
            or annotations_may_exceed and _annotations_size(annotations) > limits.max_annotations_length:
        return limit_errors(_alert_path(where, index), labels, annotations, limits)
    if "" in labels.values():
        labels = {name: value for name, value in labels.items() if value != ""}
    if starts_at is None:
        starts_at = ends_at if ends_at is not None and ends_at < received_at else received_at
    sent_ends = ends_at is not None
    if status is None:
        if ends_at is None:
            ends_at = received_at + policy.resolve_timeout
        status = AlertStatus.RESOLVED if ends_at <= received_at else AlertStatus.FIRING
    elif status is AlertStatus.RESOLVED and ends_at is None:
        ends_at = received_at
    ends_too_early = ends_at is not None and ends_at < starts_at
    if not labels or ends_too_early or not _names_valid(labels, policy) \
            or not _names_valid(annotations, policy):
        path, errors = _alert_path(where, index), []
        if policy.classic_label_names or "" in labels:
            errors += _name_errors(f"{path}.labels", labels)
        if policy.classic_label_names or "" in annotations:
            errors += _name_errors(f"{path}.annotations", annotations)
        if not labels:
            errors.append(FieldError(f"{path}.labels", "at least one label with a non-empty value is required"))
        if ends_too_early and sent_ends:
            errors.append(FieldError(f"{path}.endsAt", "must not be before startsAt"))
        elif ends_too_early:  # its end is when it was received (+ ingest.resolve_timeout if firing)
            errors.append(FieldError(f"{path}.startsAt", "is in the future: later than the end an alert sent without "
                                                         "endsAt is given (when received, plus ingest.resolve_timeout "
                                                         "while firing)"))
        return errors
    return Alert(
        fingerprint=_alert_fingerprint(labels, fingerprint_hint, policy.fingerprint_ignore_labels.get(source)),
        labels=labels,
        annotations=annotations,
        status=status,
        starts_at=starts_at,
        ends_at=ends_at,
        generator_url=generator_url,
        source=source,
        received_at=received_at,
    )


@dataclass(frozen=True, slots=True)
class ParsedAlerts:
    """What a body yields: the valid alerts (stored) and the invalid ones (reported)."""

    alerts: list[Alert]
    errors: list[FieldError]
    truncated: Truncation | None = None  # the alerts the sender left out (Alertmanager's max_alerts)


@dataclass(frozen=True, slots=True)
class Truncation:
    """Alerts of a group that an Alertmanager receiver's `max_alerts` kept out of a notification:
    they never reach correlator in it, and the same sorted tail is cut from every resend."""

    alerts: int
    group_key: str


def collect(results: list[Alert | list[FieldError]]) -> ParsedAlerts:
    alerts: list[Alert] = []
    errors: list[FieldError] = []
    for result in results:
        if isinstance(result, Alert):
            alerts.append(result)
        else:
            errors.extend(result)
    return ParsedAlerts(alerts, errors)
