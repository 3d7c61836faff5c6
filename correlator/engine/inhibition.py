"""Inhibition as Alertmanager's `inhibit/inhibit.go` decides it, as indexes the engine keeps current.

Alertmanager asks its inhibitor at every notification whether an alert is muted, so the answer
follows the sources in force whatever their order of arrival:

- a rule applies to an alert its target side matches; a firing source alert of that rule whose
  `equal` labels have the same values (a label missing on both sides counts as equal) inhibits it;
- when the alert matches the source side too, sources that also match the target side are
  disregarded (`hasEqual`'s `excludeTwoSidedMatch`): an alert matching both sides never inhibits
  itself, nor its like;
- any source in force suffices (Alertmanager #4504): the rules in file order, the sources of a rule in
  arrival order.

The engine keeps the firing members here: as sources (which may inhibit) and as targets (which a
later source may inhibit), and which source each symptom is attached to (to release it when that
source resolves).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from correlator.rules.matchers import matches_all
from correlator.rules.schema import SuppressRule

Key = tuple  # an episode: (fingerprint, startsAt)
Bucket = tuple[str, tuple[str, ...]]  # (rule name, values of its equal labels)


@dataclass(frozen=True, slots=True)
class Inhibitor:
    """The source alert in force that inhibits an alert, and the rule through which it does."""

    rule: SuppressRule
    source: Key
    equal: dict[str, str]  # the equal labels' values, shared by source and target


def _bucket(rule: SuppressRule, labels: Mapping[str, str]) -> Bucket:
    return rule.name, tuple(labels.get(name, "") for name in rule.equal)


class Inhibition:
    def __init__(self, rules: tuple[SuppressRule, ...]):
        self.rules = rules
        # Per bucket, its firing sources (key -> matches the target side too) and firing targets.
        self._sources: dict[Bucket, dict[Key, bool]] = {}
        self._targets: dict[Bucket, dict[Key, None]] = {}
        self._entries: dict[Key, list[tuple[dict, Bucket]]] = {}  # what `remove` undoes
        self._inhibited_by: dict[Key, Key] = {}  # symptom -> the source it is attached to
        self._symptoms: dict[Key, dict[Key, None]] = {}  # source -> its symptoms

    def add(self, key: Key, labels: Mapping[str, str]) -> None:
        """A firing member: a source and/or a target of the rules whose side it matches."""
        entries = []
        for rule in self.rules:
            target = matches_all(rule.target_matchers, labels)
            if target:
                bucket = _bucket(rule, labels)
                self._targets.setdefault(bucket, {})[key] = None
                entries.append((self._targets, bucket))
            if matches_all(rule.source_matchers, labels):
                bucket = _bucket(rule, labels)
                self._sources.setdefault(bucket, {})[key] = target
                entries.append((self._sources, bucket))
        if entries:
            self._entries[key] = entries

    def remove(self, key: Key) -> None:
        """The member no longer fires (or moves): it leaves the indexes."""
        for index, bucket in self._entries.pop(key, ()):
            members = index.get(bucket)
            if members is not None:
                members.pop(key, None)
                if not members:
                    del index[bucket]

    def inhibitor(self, labels: Mapping[str, str], key: Key,
                  in_force: Callable[[Key], bool]) -> Inhibitor | None:
        """Alertmanager's `Mutes`: the first source in force that inhibits an alert with `labels`."""
        for rule in self.rules:
            if not matches_all(rule.target_matchers, labels):
                continue
            sources = self._sources.get(_bucket(rule, labels))
            if not sources:
                continue
            two_sided = matches_all(rule.source_matchers, labels)
            for source, source_is_target in sources.items():
                if source != key and not (two_sided and source_is_target) and in_force(source):
                    return Inhibitor(rule, source, {name: labels.get(name, "") for name in rule.equal})
        return None

    def targets_of(self, source: Key) -> list[Key]:
        """The firing targets sharing a bucket with a source (which it may now inhibit)."""
        return list(dict.fromkeys(target for index, bucket in self._entries.get(source, ()) if index is self._sources
                                  for target in self._targets.get(bucket, ()) if target != source))

    def attach(self, symptom: Key, source: Key) -> None:
        self.detach(symptom)
        self._inhibited_by[symptom] = source
        self._symptoms.setdefault(source, {})[symptom] = None

    def detach(self, symptom: Key) -> None:
        source = self._inhibited_by.pop(symptom, None)
        if source is not None:
            symptoms = self._symptoms[source]
            symptoms.pop(symptom, None)
            if not symptoms:
                del self._symptoms[source]

    def inhibited_by(self, symptom: Key) -> Key | None:
        return self._inhibited_by.get(symptom)

    def release(self, source: Key) -> list[Key]:
        """The symptoms attached to a source that no longer fires (they are detached)."""
        symptoms = list(self._symptoms.pop(source, ()))
        for symptom in symptoms:
            del self._inhibited_by[symptom]
        return symptoms

    def forget(self, key: Key) -> None:
        """The member left the engine (its incident closed)."""
        self.remove(key)
        self.detach(key)
        for symptom in self._symptoms.pop(key, ()):
            del self._inhibited_by[symptom]
