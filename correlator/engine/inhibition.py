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

`Inhibition` keeps the firing members: as sources (which may inhibit) and as targets (which a
later source may inhibit), and which source each symptom is attached to (to release it when that
source resolves). `InhibitionStage`, mixed into the Engine, acts on it: a symptom's place and
explanation, targets taken by a later source, symptoms released when their source resolves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from typing import Callable, Mapping

from correlator.domain import AlertStatus, Explanation, Incident, JoinReason, Member, TimelineKind
from correlator.engine.derivation import reexplained
from correlator.engine.timers import ENGINE
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
    return rule.name, tuple(map(labels.get, rule.equal, repeat("")))  # map: no generator per alert


class Inhibition:
    def __init__(self, rules: tuple[SuppressRule, ...]):
        self.rules = rules
        # Per bucket, its firing sources (key -> matches the target side too) and its firing targets
        # that no source inhibits yet (those a new source may take).
        self._sources: dict[Bucket, dict[Key, bool]] = {}
        self._targets: dict[Bucket, dict[Key, None]] = {}
        self._entries: dict[Key, list[tuple[dict, Bucket]]] = {}  # what `remove` undoes
        self._inhibited_by: dict[Key, Key] = {}  # symptom -> the source it is attached to
        self._symptoms: dict[Key, dict[Key, None]] = {}  # source -> its symptoms
        self._kept: dict[Key, Explanation] = {}  # symptom in place -> its explanation before

    def add(self, key: Key, labels: Mapping[str, str]) -> None:
        """A firing member: a source and/or a target of the rules whose side it matches."""
        entries = []
        for rule in self.rules:
            target = matches_all(rule.target_matchers, labels)
            source = matches_all(rule.source_matchers, labels)
            if not (target or source):
                continue
            bucket = _bucket(rule, labels)
            if target:
                if key not in self._inhibited_by:  # a symptom is taken already
                    self._targets.setdefault(bucket, {})[key] = None
                entries.append((self._targets, bucket))
            if source:
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
        """The firing targets not yet inhibited sharing a bucket with a source (it may take them)."""
        return list(dict.fromkeys(target for index, bucket in self._entries.get(source, ()) if index is self._sources
                                  for target in self._targets.get(bucket, ()) if target != source))

    def attach(self, symptom: Key, source: Key) -> None:
        self._unlink(symptom)
        self._inhibited_by[symptom] = source
        self._symptoms.setdefault(source, {})[symptom] = None
        for index, bucket in self._entries.get(symptom, ()):
            if index is self._targets and bucket in self._targets:
                self._targets[bucket].pop(symptom, None)

    def keep(self, symptom: Key, why: Explanation) -> None:
        """A symptom that stayed in its incident: its explanation before, for its release."""
        self._kept[symptom] = why

    def kept(self, symptom: Key) -> Explanation | None:
        return self._kept.pop(symptom, None)

    def detach(self, symptom: Key) -> None:
        """The symptom no longer fires."""
        self._unlink(symptom)
        self._kept.pop(symptom, None)

    def _unlink(self, symptom: Key) -> None:
        source = self._inhibited_by.pop(symptom, None)
        if source is not None:
            symptoms = self._symptoms[source]
            symptoms.pop(symptom, None)
            if not symptoms:
                del self._symptoms[source]

    def holds_symptoms(self, source: Key) -> bool:
        return source in self._symptoms

    def inhibited_by(self, symptom: Key) -> Key | None:
        return self._inhibited_by.get(symptom)

    def release(self, source: Key) -> list[Key]:
        """The symptoms attached to a source that no longer fires (they are detached, targets again)."""
        symptoms = list(self._symptoms.pop(source, ()))
        for symptom in symptoms:
            del self._inhibited_by[symptom]
            for index, bucket in self._entries.get(symptom, ()):
                if index is self._targets:
                    self._targets.setdefault(bucket, {})[symptom] = None
        return symptoms

    def forget(self, key: Key) -> None:
        """The member left the engine (its incident closed)."""
        self.remove(key)
        self.detach(key)
        for symptom in self._symptoms.pop(key, ()):
            del self._inhibited_by[symptom]
            self._kept.pop(symptom, None)


def _kept_explanations(incident: Incident) -> dict[str, Explanation]:
    """Per alert whose latest placement in `incident` made it a symptom in place: its explanation before."""
    kept: dict[str, Explanation] = {}
    for event in incident.timeline:
        if event.kind in (TimelineKind.ALERT_JOINED, TimelineKind.ALERT_INHIBITED, TimelineKind.ALERT_RELEASED,
                          TimelineKind.ALERT_MOVED):
            why = event.detail.get("kept") if event.kind is TimelineKind.ALERT_INHIBITED else None
            if why is not None:
                kept[event.detail["fingerprint"]] = Explanation(why["reason"], why["rule"], why["labels"], why["detail"])
            else:
                kept.pop(event.detail["fingerprint"], None)
    return kept


class InhibitionStage:
    """Stage 3 of the Engine (mixed into it), re-evaluated as Alertmanager does at every notification."""

    def _in_force(self, source) -> bool:
        """A source inhibits while it fires in an active incident."""
        episode = self._episodes.get(source)
        incident = self.incidents.get(episode.incident_id) if episode is not None and episode.incident_id else None
        return incident is not None and incident.active and episode.status is AlertStatus.FIRING

    def _symptom(self, inhibitor: Inhibitor, labels) -> tuple[Incident, Explanation]:
        incident = self.incidents[self._episodes[inhibitor.source].incident_id]
        source = incident.members[inhibitor.source]
        return incident, Explanation(JoinReason.SYMPTOM, inhibitor.rule.name, inhibitor.equal,
                                     f"inhibited by {source.labels.get('alertname', 'alert')} ({source.fingerprint})")

    def _attach_symptoms(self) -> None:
        """After a restore or reload: each firing symptom is attached to a source in force, if any;
        one that stayed in its incident gets back the explanation it had before (from its event)."""
        for incident in self.incidents.values():
            kept = None
            for key, member in incident.members.items():
                if member.status is AlertStatus.FIRING and member.why.reason == JoinReason.SYMPTOM:
                    inhibitor = self.inhibition.inhibitor(member.labels, key, self._in_force)
                    if inhibitor is not None:
                        self.inhibition.attach(key, inhibitor.source)
                        kept = _kept_explanations(incident) if kept is None else kept
                        if member.fingerprint in kept:
                            self.inhibition.keep(key, kept[member.fingerprint])

    def _inhibit_present(self, source_key, now: datetime) -> None:
        """A new source inhibits the targets already firing: they become its symptoms. A target alone
        in its incident joins the source's (its incident closes); one placed with other alerts stays
        with them, as a symptom naming its source (moving it would split what was placed together)."""
        left: dict[str, tuple[Incident, str]] = {}
        for key in self.inhibition.targets_of(source_key):
            if self.inhibition.inhibited_by(key) is not None or not self._in_force(key):
                continue  # already a symptom (one source suffices), or not an active alert
            incident = self.incidents[self._episodes[key].incident_id]
            member = incident.members[key]
            inhibitor = self.inhibition.inhibitor(member.labels, key, self._in_force)
            if inhibitor is None:
                continue
            destination, why = self._symptom(inhibitor, member.labels)
            kept = None
            if destination is not incident and len(incident.members) > 1:
                kept = member.why
                self.inhibition.keep(key, kept)
                destination = incident
            self._re_place(incident, key, member, destination, why, now, TimelineKind.ALERT_INHIBITED, left, kept)
            self.inhibition.attach(key, inhibitor.source)
        self._settle(left, now)

    def _release(self, source_key, now: datetime) -> set[str]:
        """A source stopped firing: its symptoms go to another source in force, if any (any of them
        inhibits), else they are placed again by stages 5-8 and 10 (a symptom that stayed in its incident
        gets its explanation back)."""
        left: dict[str, tuple[Incident, str]] = {}
        changed: set[str] = set()
        for key in self.inhibition.release(source_key):
            if not self._in_force(key):
                continue
            incident = self.incidents[self._episodes[key].incident_id]
            member = incident.members[key]
            inhibitor = self.inhibition.inhibitor(member.labels, key, self._in_force)
            kept = self.inhibition.kept(key)
            if inhibitor is not None:
                self.inhibition.attach(key, inhibitor.source)
                placed, kind = self._symptom(inhibitor, member.labels), TimelineKind.ALERT_INHIBITED
                if kept is not None:  # a symptom in place stays in place
                    self.inhibition.keep(key, kept)
                    placed = incident, placed[1]
            elif kept is not None:
                placed, kind = (incident, kept), TimelineKind.ALERT_RELEASED
            else:
                group = self._group_key(member.labels, member.fingerprint)
                if self._by_group.get(group[0]) == incident.id and incident.group_key != group[0]:
                    del self._by_group[group[0]]  # it joined as a symptom, not by its group
                placed = self._placed_again(member, key, group, now)
                kind = TimelineKind.ALERT_RELEASED
                # Placing it may have moved it already: a storm's incident takes in the incident
                # it sat in when that holds only the storm's name (a source of the same name).
                incident = self.incidents[self._episodes[key].incident_id]
            changed |= self._re_place(incident, key, member, *placed, now, kind, left,
                                      kept if kind is TimelineKind.ALERT_INHIBITED else None)
        self._settle(left, now)
        return changed

    def _re_place(self, incident: Incident, key, member: Member, destination: Incident, why: Explanation,
                  now: datetime, kind: TimelineKind, left: dict[str, tuple[Incident, str]],
                  kept: Explanation | None = None) -> set[str]:
        """Give a present member a new place and explanation. `left` collects the incidents it
        leaves, whose aggregates `_settle` recomputes. `kept`: the explanation a symptom that stays
        in its incident gets back on release, in the event so that a restore finds it again."""
        before, member.why = member.why, why
        incident.changed_members.add(key)
        detail = {"fingerprint": member.fingerprint, "reason": why.reason, "rule": why.rule, "detail": why.detail}
        if kept is not None:
            detail["kept"] = {"reason": kept.reason, "rule": kept.rule, "labels": dict(kept.labels),
                              "detail": kept.detail}
        self._point_group(self._group_key(member.labels, member.fingerprint)[0], destination.id)
        self._touched |= {incident.id, destination.id}
        if destination is incident:  # its explanation changes, not the incident's aggregates (yet: reexplained)
            reexplained(self._facts[incident.id], member, before, incident.members.values())
            incident.record(now, kind, **detail)
            return {incident.id}
        self._move(incident, destination, key, member, now, counted_as=before)
        destination.record(now, kind, source=incident.id, **detail)
        incident.record(now, TimelineKind.ALERT_MOVED, into=destination.id, fingerprint=member.fingerprint,
                        reason=why.reason)
        left[incident.id] = incident, destination.id
        return {incident.id, destination.id}

    def _settle(self, left: dict[str, tuple[Incident, str]], now: datetime) -> None:
        """Recompute, once, the aggregates of the incidents members left: closed when left empty,
        resolved after the hold when nothing fires in them any more."""
        for incident, destination in left.values():
            if not incident.members:
                self._touched |= self._force_close(incident, now, ENGINE, f"its alerts moved to {destination}")
                continue
            self._rederive(incident, now)  # with nothing firing left, the hold starts
