"""Which destinations hear about an incident: each destination's `match` (Alertmanager matchers, all
of which must match, or each field with the values it may have) over the incident's fields and labels.

The fields are `priority`, `category`, `service_area`, `team` and `state`; the labels are those every
member alert shares (an incident of one cluster has `cluster`, one of several has none). A field
wins over a label of the same name. A destination with no matchers hears about every incident."""

from __future__ import annotations

from dataclasses import dataclass

from correlator.domain import Incident
from correlator.rules.matchers import Matcher, MatchType, MatcherSyntax, matches_all, parse_matchers


@dataclass(frozen=True)
class Route:
    destination: str
    matchers: tuple[Matcher, ...] = ()


def parse_route(destination: str, match: list[str] | dict[str, list[str]],
                syntax: MatcherSyntax = MatcherSyntax.FALLBACK) -> Route:
    """`match`: matchers (`priority=~"P1|P2"`), or each field or label with the values it may have
    (`{priority: [P1, P2]}`). Raises rules.matchers.MatcherError for a matcher that does not parse."""
    if isinstance(match, dict):
        return Route(destination, tuple(Matcher.create(name, MatchType.EQUAL, values[0]) if len(values) == 1 else
                                        Matcher.create(name, MatchType.REGEX, "|".join(map(_literal, values)))
                                        for name, values in match.items()))
    return Route(destination, tuple(m for text in match for m in parse_matchers(text, syntax)))


_REGEX_SPECIAL = frozenset("\\.+*?()|[]{}^$")


def _literal(value: str) -> str:
    """`value` as a Go regular expression matching itself (only its metacharacters escaped)."""
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in value)


def routing_fields(incident: Incident) -> dict[str, str]:
    members = iter(incident.members.values())
    first = next(members, None)
    shared = dict(first.labels) if first is not None else {}
    for member in members:
        if not shared:
            break
        shared = {name: value for name, value in shared.items() if member.labels.get(name) == value}
    return {**shared, "priority": incident.priority.value, "category": incident.category.value if incident.category else "",
            "service_area": str(incident.service_area or ""), "team": incident.team, "state": incident.state.value}


def routed(routes: tuple[Route, ...], incident: Incident) -> list[str]:
    """The destinations whose route matches `incident` now."""
    if not routes:
        return []
    fields = routing_fields(incident)
    return [route.destination for route in routes if matches_all(list(route.matchers), fields)]
