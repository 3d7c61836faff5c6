"""Alerts as they are received and stored."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

import msgspec


# Widths of the store's columns: a team or actor name, and a source (an endpoint or mapping name).
MAX_NAME_LENGTH = 200
MAX_SOURCE_LENGTH = 32


class AlertStatus(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Source(enum.StrEnum):
    """The endpoint an alert was posted to, ACTION: an operator action, or PLACEMENT: where pods run
    (no alerts). The `source` of a row of the engine's input log (`notifications`) and of a
    recording line."""

    ALERTMANAGER = "alertmanager"
    PROMETHEUS = "prometheus"
    GENERIC = "generic"
    ACTION = "action"
    PLACEMENT = "placement"


class Alert(msgspec.Struct, frozen=True, gc=False):
    """One alert as a sender reported it at `received_at`, normalised across sources.

    `ends_at` is None while the sender says nothing of an end (Alertmanager's zero time);
    a firing alert with `ends_at` set expires then unless the sender extends it
    (the Alertmanager v2 API contract Prometheus follows). A frozen msgspec Struct rather than a
    dataclass: it is built once per received alert, and a frozen dataclass costs 3x more to build.
    """

    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    status: AlertStatus
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    source: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class RawNotification:
    """A request body exactly as received, kept for audit and replay."""

    source: str
    received_at: datetime
    body: bytes
