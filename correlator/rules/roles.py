"""The relate rules an alert plays a part in: as a cause, as an effect."""

from __future__ import annotations

from typing import Iterable, Mapping

from correlator.rules.matchers import matches_all
from correlator.rules.schema import RelateRule

Roles = tuple[frozenset[str], frozenset[str]]  # the relate rules an alert is a cause and an effect in
NAMES_REMEMBERED = 50_000  # alert names whose roles are remembered (bounded: names come and go)


class RelateRoles:
    """`roles(labels)`: the names of `rules` whose cause, and whose effect, the alert matches.
    Remembered by alert name when the rules look at nothing else (most alerts recur by name)."""

    def __init__(self, rules: Iterable[RelateRule]):
        self.rules = tuple(rules)
        by_name_only = all(m.name == "alertname" for r in self.rules for m in [*r.cause, *r.effect])
        self._by_name: dict[str, Roles] | None = {} if by_name_only else None

    def __call__(self, labels: Mapping[str, str]) -> Roles:
        by_name, name = self._by_name, labels.get("alertname", "")
        if by_name is not None and name in by_name:
            return by_name[name]
        roles = (frozenset(r.name for r in self.rules if matches_all(r.cause, labels)),
                 frozenset(r.name for r in self.rules if matches_all(r.effect, labels)))
        if by_name is not None and len(by_name) < NAMES_REMEMBERED:
            by_name[name] = roles
        return roles
