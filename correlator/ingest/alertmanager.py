"""Parsers for the two Alertmanager wire shapes: its webhook (v4) and its v2 alerts API."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from typing import Any

import msgspec

from correlator.domain import AlertStatus, FieldError, PayloadError, Source
from correlator.ingest.decoding import AlertsDecoder
from correlator.ingest.normalize import (AlertLimits, IngestPolicy, ParsedAlerts, Truncation, build_alert, collect,
                                         has_nul_escape, labels_held_to, limit_errors)

# Grafana's webhook contact point sends the same envelope with version "1".
SUPPORTED_WEBHOOK_VERSIONS = ("4", "1")


class _WebhookAlert(msgspec.Struct):
    status: AlertStatus
    labels: dict[str, str]
    startsAt: datetime
    annotations: dict[str, str] = {}
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = ""


class _Webhook(msgspec.Struct):
    """Fields we use; the rest (notification_reason, routeLabels...) is ignored."""

    version: str
    alerts: list[_WebhookAlert]
    # Read as sent, never refused: they were ignored before, and a sender that spells them oddly
    # (null, a string) must not lose its alerts for a field only reported on.
    groupKey: Any = ""
    truncatedAlerts: Any = 0  # the group's alerts the receiver's max_alerts left out of this notification


class _PostableAlert(msgspec.Struct):
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: str = ""


def _with_types(struct: type, **types) -> type:
    """A copy of the msgspec Struct `struct` with the named fields' types replaced."""
    fields = []
    for field in msgspec.structs.fields(struct):
        kind = types.get(field.name, field.type)
        if field.required:
            fields.append((field.name, kind))
        elif field.default_factory is not msgspec.NODEFAULT:
            fields.append((field.name, kind, msgspec.field(default_factory=field.default_factory)))
        else:
            fields.append((field.name, kind, field.default))
    return msgspec.defstruct(struct.__name__, fields)


def _limit_errors_of(alert_type: type, limits: AlertLimits):
    """For an alert that does not decode: the limits it is over, when that is all that is wrong."""
    loose = msgspec.json.Decoder(alert_type)

    def explain(raw: msgspec.Raw, path: str) -> list[FieldError] | None:
        try:
            alert = loose.decode(raw)
        except msgspec.ValidationError:
            return _values_not_text(raw, path)
        return limit_errors(path, alert.labels, alert.annotations, limits)
    return explain


def _values_not_text(raw: msgspec.Raw, path: str) -> list[FieldError] | None:
    """Each label or annotation whose value is not a string, by name: msgspec names only the map."""
    try:
        alert = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    if not isinstance(alert, dict):
        return None
    errors = [FieldError(f"{path}.{field}.{name}", f"expected a string, got {type(value).__name__}")
              for field in ("labels", "annotations") if isinstance(alert.get(field), dict)
              for name, value in alert[field].items() if not isinstance(value, str)]
    return errors or None


@lru_cache(maxsize=4)
def _decoders(limits: AlertLimits) -> tuple[AlertsDecoder, AlertsDecoder]:
    """The webhook's and the v2 API's decoders for `limits`: msgspec holds the labels to them."""
    labels = labels_held_to(limits)
    webhook_alert = _with_types(_WebhookAlert, labels=labels)
    postable = _with_types(_PostableAlert, labels=labels)
    webhook = AlertsDecoder(
        msgspec.json.Decoder(_with_types(_Webhook, alerts=list[webhook_alert])),
        msgspec.json.Decoder(_with_types(_Webhook, alerts=list[msgspec.Raw])), msgspec.json.Decoder(webhook_alert),
        "alerts", lambda message: message.alerts, _limit_errors_of(_WebhookAlert, limits))
    v2 = AlertsDecoder(
        msgspec.json.Decoder(list[postable]), msgspec.json.Decoder(list[msgspec.Raw]), msgspec.json.Decoder(postable),
        "", lambda alerts: alerts, _limit_errors_of(_PostableAlert, limits))
    return webhook, v2


def parse_alertmanager_webhook(body: bytes, received_at: datetime, policy: IngestPolicy) -> ParsedAlerts:
    """An Alertmanager webhook notification: a snapshot of one aggregation group."""
    message, alerts = _decoders(policy.limits)[0].decode(body)
    nul, long = has_nul_escape(body), len(body) > policy.limits.max_annotations_length
    if message.version not in SUPPORTED_WEBHOOK_VERSIONS:
        raise PayloadError("unsupported webhook version", [FieldError(
            "version", f"got {message.version!r}, expected \"4\" (Alertmanager webhook payload)")])
    parsed = collect([
        alert if isinstance(alert, list) else build_alert(
            "alerts", index,
            labels=alert.labels,
            annotations=alert.annotations,
            status=alert.status,
            starts_at=alert.startsAt,
            ends_at=alert.endsAt,
            generator_url=alert.generatorURL,
            fingerprint_hint=alert.fingerprint,
            source=Source.ALERTMANAGER,
            received_at=received_at,
            policy=policy,
            may_hold_nul=nul,
            labels_held=True,
            annotations_may_exceed=long,
        )
        for index, alert in enumerate(alerts)
    ])
    truncated = message.truncatedAlerts
    if isinstance(truncated, int) and not isinstance(truncated, bool) and truncated > 0:
        return replace(parsed, truncated=Truncation(truncated, str(message.groupKey)))
    return parsed


def parse_postable_alerts(body: bytes, received_at: datetime, policy: IngestPolicy) -> ParsedAlerts:
    """Alertmanager's `POST /api/v2/alerts` body, as Prometheus sends it: status follows endsAt."""
    _, alerts = _decoders(policy.limits)[1].decode(body)
    nul, long = has_nul_escape(body), len(body) > policy.limits.max_annotations_length
    return collect([
        alert if isinstance(alert, list) else build_alert(
            "", index,
            labels=alert.labels,
            annotations=alert.annotations,
            status=None,
            starts_at=alert.startsAt,
            ends_at=alert.endsAt,
            generator_url=alert.generatorURL,
            fingerprint_hint="",
            source=Source.PROMETHEUS,
            received_at=received_at,
            policy=policy,
            may_hold_nul=nul,
            labels_held=True,
            annotations_may_exceed=long,
        )
        for index, alert in enumerate(alerts)
    ])
