"""Destination types: the `type:` of a configured destination -> the adapter module that builds it.

Each module has `TYPE` and `build(name, options, http) -> Destination` (forward/contract.py). The
modules are imported when a destination of their type is configured, so an adapter's dependencies
load only where it is used."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Mapping

import aiohttp

from correlator.forward.contract import Destination, DestinationError

ADAPTERS: dict[str, str] = {
    kind: f"correlator.forward.{kind}" for kind in ("jira", "opsgenie", "pagerduty", "servicenow", "slack", "webhook")
}


@dataclass(frozen=True)
class DestinationSpec:
    """One destination as configured (`forwarding.destinations[...]`)."""

    name: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)


def adapter(name: str, type_: str):
    module = ADAPTERS.get(type_)
    if module is None:
        raise DestinationError(name, "type", f"unknown destination type {type_!r}; expected one of "
                                             f"{', '.join(sorted(ADAPTERS))}")
    return importlib.import_module(module)


def build(spec: DestinationSpec, http: aiohttp.ClientSession) -> Destination:
    """Raises DestinationError naming the option."""
    return adapter(spec.name, spec.type).build(spec.name, dict(spec.options), http)


def build_all(specs: list[DestinationSpec], http: aiohttp.ClientSession) -> dict[str, Destination]:
    return {spec.name: build(spec, http) for spec in specs}


async def check(specs: list[DestinationSpec]) -> None:
    """Build every destination once and close it: the configuration's errors at start, as
    DestinationError, before the daemon runs."""
    async with aiohttp.ClientSession() as http:
        for spec in specs:
            await build(spec, http).close()
