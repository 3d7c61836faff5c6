"""Which parser reads a body, by source name: the same table for the live receivers and replay."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from correlator.domain import Source
from correlator.ingest.alertmanager import parse_alertmanager_webhook, parse_postable_alerts
from correlator.ingest.generic import GENERIC_FORMAT, FieldMapping, parse_mapped
from correlator.ingest.normalize import IngestPolicy, ParsedAlerts

Parser = Callable[[bytes, datetime, IngestPolicy], ParsedAlerts]


def _mapped(mapping: FieldMapping, source: str) -> Parser:
    return lambda body, received_at, policy: parse_mapped(body, received_at, policy, mapping, source)


def parsers(mappings: dict[str, FieldMapping]) -> dict[str, Parser]:
    """Source name -> parser: the three built-in sources, then one per configured field mapping."""
    table: dict[str, Parser] = {
        Source.ALERTMANAGER: parse_alertmanager_webhook,
        Source.PROMETHEUS: parse_postable_alerts,
        Source.GENERIC: _mapped(GENERIC_FORMAT, Source.GENERIC),
    }
    for name, mapping in sorted(mappings.items()):
        table.setdefault(name, _mapped(mapping, name))
    return table
