"""`serve --record`: each accepted notification appended as one line of a recording (the input of `replay`).

Recording format (DESIGN.md), one received notification per line, in receive order:
    {"at": "2026-11-23T03:41:24.204Z", "source": "alertmanager", "body": {...}}
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import msgspec

from correlator.units import rfc3339

_encoder = msgspec.json.Encoder()


class Recorder:
    """Appends each accepted notification and each operator action appended to the log as one
    recording line."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("ab")

    def write(self, at: datetime, source: str, body: bytes) -> None:
        self._file.write(recording_line(at, source, body))
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def recording_line(at: datetime, source: str, body: bytes) -> bytes:
    """One line of a recording, as `serve --record` writes it (body compacted onto one line)."""
    return _encoder.encode({"at": rfc3339(at), "source": source,
                            "body": msgspec.Raw(_encoder.encode(msgspec.json.decode(body)))}) + b"\n"
