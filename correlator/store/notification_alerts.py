"""The alerts ingest parsed from a notification, stored beside its body (`notifications.alerts`):
msgpack of the normalized `Alert` structs, so the engine reads each notification as ingest read it
(with the mappings and policy in force at receive time), without parsing it again."""

from __future__ import annotations

from typing import Sequence

import msgspec

from correlator.domain import Alert

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[Alert])


def encode_alerts(alerts: Sequence[Alert]) -> bytes:
    return _encoder.encode(alerts)


def decode_alerts(data: bytes) -> list[Alert]:
    return _decoder.decode(data)
