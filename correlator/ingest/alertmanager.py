"""Parsers for the two Alertmanager wire shapes: its webhook (v4) and its v2 alerts API."""

from __future__ import annotations

from datetime import datetime
import msgspec

from correlator.domain import AlertStatus, Source
from correlator.ingest.decoding import AlertsDecoder
from correlator.ingest.errors import FieldError, PayloadError
from correlator.ingest.normalize import IngestPolicy, ParsedAlerts, build_alert, collect, has_nul_escape

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
    """Fields we use; the rest (groupKey, notification_reason, routeLabels...) is ignored."""

    version: str
    alerts: list[_WebhookAlert]


class _PostableAlert(msgspec.Struct):
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: str = ""


class _WebhookEnvelope(msgspec.Struct):
    version: str
    alerts: list[msgspec.Raw]


_webhook_decoder = AlertsDecoder(
    msgspec.json.Decoder(_Webhook), msgspec.json.Decoder(_WebhookEnvelope), msgspec.json.Decoder(_WebhookAlert),
    "alerts", lambda message: message.alerts)
_postable_decoder = AlertsDecoder(
    msgspec.json.Decoder(list[_PostableAlert]), msgspec.json.Decoder(list[msgspec.Raw]),
    msgspec.json.Decoder(_PostableAlert), "", lambda alerts: alerts)


def parse_alertmanager_webhook(body: bytes, received_at: datetime, policy: IngestPolicy) -> ParsedAlerts:
    """An Alertmanager webhook notification: a snapshot of one aggregation group."""
    message, alerts = _webhook_decoder.decode(body)
    nul = has_nul_escape(body)
    if message.version not in SUPPORTED_WEBHOOK_VERSIONS:
        raise PayloadError("unsupported webhook version", [FieldError(
            "version", f"got {message.version!r}, expected \"4\" (Alertmanager webhook payload)")])
    return collect([
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
        )
        for index, alert in enumerate(alerts)
    ])


def parse_postable_alerts(body: bytes, received_at: datetime, policy: IngestPolicy) -> ParsedAlerts:
    """Alertmanager's `POST /api/v2/alerts` body, as Prometheus sends it: status follows endsAt."""
    _, alerts = _postable_decoder.decode(body)
    nul = has_nul_escape(body)
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
        )
        for index, alert in enumerate(alerts)
    ])
