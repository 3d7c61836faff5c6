"""What an incident is, derived from its members: title, services, classification, priority,
assignment. Kept as running aggregates (`Facts`), so a join costs O(rules + labels) however big
the incident already is, and so does, mostly, a member leaving (`withdraw`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable, Iterator

import msgspec

from correlator.domain import (Category, DecisionReason, Explanation, Incident, JoinReason, Member, ServiceArea,
                               TimelineKind)
from correlator.engine import decisions
from correlator.engine.blast import BlastRadius, host_name, withdrawn
from correlator.engine.roots import Candidate, behind, explained_by, in_causal_order, outranked, rank, ranked
from correlator.learning.entities import subject_of
from correlator.ml.features import DOCUMENT_NAMES, document, incident_document
from correlator.ml.lexicon import SEVERAL_HOSTS
from correlator.ml.model import LearnedModel
from correlator.rules.loader import RuleSet
from correlator.rules.matchers import matches_all


CLASSIFIED = (("category", Category), ("service_area", ServiceArea))  # in the model's prediction order


@dataclass(slots=True)
class Facts:
    """Running aggregates over an incident's members."""

    common: dict[str, str] = field(default_factory=dict)  # labels every member shares
    names: dict[str, int] = field(default_factory=dict)  # alertname -> alerts (fingerprints), not episodes
    fingerprints: dict[str, int] = field(default_factory=dict)  # -> its episodes here
    services: dict[str, None] = field(default_factory=dict)
    radius: BlastRadius = field(default_factory=BlastRadius)
    # alertname -> the hosts it fires on (up to SEVERAL_HOSTS): one alert lost on several hosts
    # at once is their shared network's fault rather than a fault of each
    hosts_by_name: dict[str, set[str]] = field(default_factory=dict)
    roots: list[Candidate] = field(default_factory=list)  # the likeliest causes, best first
    causal: tuple[tuple[Candidate, ...], tuple[Candidate, ...]] = ((), ())  # `roots`, and they in causal order
    lead: tuple[Candidate, str] | None = None  # the title's: the likeliest cause, what it is about (read once)
    reclassify: bool = False  # the roots or the hosts lost changed since the last classification
    urgency: tuple | None = None  # (Level, grounds)
    assignment: tuple | None = None  # (rule index, team, tier, why)
    escalations: tuple[int, ...] = ()  # escalate rules a member matches
    escalation_pending: bool = False
    documents: dict[str, str] = field(default_factory=dict)  # alertname -> its first member's document
    prediction: tuple | None = None  # the model's (category, service area) for these documents
    # (key, member, whether it counted as a symptom) moved out, to withdraw: it leaves explained anew
    departed: list[tuple[tuple, Member, bool]] = field(default_factory=list)
    # A member staying in the incident was explained anew (a symptom or no longer): the roots may
    # be other than `rank` gives, and are ranked again when the incident is recomputed.
    stale_roots: bool = False


def absorb(rules: RuleSet, facts: Facts, member: Member) -> None:
    """Fold one member into the aggregates (no effect on the incident yet)."""
    # The first member's labels themselves (never mutated: narrowing builds a new dict).
    facts.common = {k: v for k, v in facts.common.items() if member.labels.get(k) == v} \
        if facts.names else member.labels
    name = member.labels.get("alertname", "alert")
    episodes = facts.fingerprints.get(member.fingerprint, 0)
    facts.fingerprints[member.fingerprint] = episodes + 1
    if not episodes:  # a flapping alert's episodes are one alert
        facts.names[name] = facts.names.get(name, 0) + 1
    if name not in facts.documents and len(facts.documents) < DOCUMENT_NAMES:
        facts.documents[name] = document(member.labels, member.annotations)
        facts.prediction = None
    facts.services.update(dict.fromkeys(member.services))
    facts.radius.add(member.labels)
    facts.reclassify |= rank(facts.roots, member)
    hosts, host = facts.hosts_by_name.setdefault(name, set()), host_name(member.labels)
    if host and host not in hosts and len(hosts) < SEVERAL_HOSTS:
        hosts.add(host)
        facts.reclassify = True
    urgency, grounds = decisions.urgency_of(rules, member.labels)
    if facts.urgency is None or decisions.more_urgent(urgency, facts.urgency[0]):
        facts.urgency = (urgency, grounds)
    for index, rule in enumerate(rules.escalations):
        if index not in facts.escalations and matches_all(rule.matchers, member.labels):
            facts.escalations += (index,)
            facts.escalation_pending = True
    found = decisions.assignment_of(rules, member.labels)
    if found is not None and (facts.assignment is None or found[0] < facts.assignment[0]):
        facts.assignment = found


def withdraw(rules: RuleSet, facts: Facts, members: dict[tuple, Member]) -> bool:
    """Take the departed members out of the aggregates, so that they are what folding the members
    left (`members`, in order) with `absorb` gives; False when only that fold can tell (a departed
    member came back). An aggregate is looked at again only when a departed member may have counted
    in it, and then the members left are scanned only until one decides, so a few members leaving a
    large incident cost little."""
    departed, facts.departed = facts.departed, []
    keys = [key for key, _, _ in departed]
    if not members or len(set(keys)) < len(keys) or any(key in members for key in keys):
        return False
    if facts.stale_roots or not all(outranked(facts.roots, member, as_symptom) for _, member, as_symptom in departed):
        facts.roots, facts.stale_roots = ranked(members.values()), False
    def left() -> Iterator[dict[str, str]]:  # the labels of the members left, in order
        return (member.labels for member in members.values())

    # A label they all shared stays shared; one that a departed member did not share may be now.
    facts.common = {k: v for k, v in next(left()).items() if facts.common.get(k) == v or (
        any(member.labels.get(k) != v for _, member, _ in departed) and all(labels.get(k) == v for labels in left()))}
    if any(facts.documents.get(member.labels.get("alertname", "alert")) == document(member.labels, member.annotations)
           for _, member, _ in departed):  # a departed member may have been its name's first
        facts.documents = {}
        for member in members.values():
            name = member.labels.get("alertname", "alert")
            if name not in facts.documents:
                facts.documents[name] = document(member.labels, member.annotations)
                if len(facts.documents) == DOCUMENT_NAMES:
                    break
    if any(member.services for _, member, _ in departed):
        facts.services = dict.fromkeys(service for member in members.values() for service in member.services)
    for _, member, _ in departed:
        _withdraw_one(rules, facts, member, left)
    facts.reclassify, facts.prediction = True, None  # as after a fold: classified again
    facts.escalation_pending = bool(facts.escalations)
    return True


def _withdraw_one(rules: RuleSet, facts: Facts, member: Member, left: Callable[[], Iterator[dict[str, str]]]) -> None:
    """One departed member out of the counted and first-found aggregates, against the members left
    (`left()`: their labels): with several departed, each ends as the fold of the members left."""
    labels, name = member.labels, member.labels.get("alertname", "alert")
    episodes = facts.fingerprints.pop(member.fingerprint) - 1
    if episodes:
        facts.fingerprints[member.fingerprint] = episodes
    else:  # its alert's last episode here
        facts.names[name] -= 1
        if not facts.names[name]:
            del facts.names[name]
    facts.radius.withdraw(labels, left)
    hosts, host = facts.hosts_by_name.get(name, set()), host_name(labels)
    if host in hosts:
        withdrawn(hosts, host, (theirs for other in left() if other.get("alertname", "alert") == name
                                for theirs in (host_name(other),) if theirs))
    urgency, _ = decisions.urgency_of(rules, labels)
    if urgency == facts.urgency[0]:  # it may have been the first this urgent: the first most urgent again
        facts.urgency = None
        for other in left():
            found = decisions.urgency_of(rules, other)
            if facts.urgency is None or decisions.more_urgent(found[0], facts.urgency[0]):
                facts.urgency = found
            if found[0] == urgency:
                break  # none is more urgent
    gone = [index for index in facts.escalations if matches_all(rules.escalations[index].matchers, labels)
            and not any(matches_all(rules.escalations[index].matchers, other) for other in left())]
    facts.escalations = tuple(index for index in facts.escalations if index not in gone)
    assignment = decisions.assignment_of(rules, labels)
    if assignment is not None and facts.assignment is not None and assignment[0] == facts.assignment[0]:
        # it may have been the first (none left, after another departed member: found already)
        facts.assignment = None
        for other in left():
            found = decisions.assignment_of(rules, other)
            if found is not None and (facts.assignment is None or found[0] < facts.assignment[0]):
                facts.assignment = found
                if found[0] == assignment[0]:
                    break  # none comes before


def reexplained(facts: Facts, member: Member, before: Explanation, members: Iterable[Member]) -> None:
    """A member staying in its incident (`members`) is explained anew: the roots score a symptom lower."""
    if (before.reason == JoinReason.SYMPTOM) != (member.why.reason == JoinReason.SYMPTOM) \
            and not outranked(facts.roots, member) and not behind(members, member):
        facts.stale_roots = True

def derive(rules: RuleSet, incident: Incident, facts: Facts, member: Member, now: datetime,
           group_labels: dict[str, str], model: LearnedModel | None = None, low_confidence: float = 0.0,
           automatic: bool = True) -> bool:
    """After `member` joined: update the incident and record each change in its timeline.
    `automatic`: classify what no rule did (the lexicon, then `model`). Returns whether its
    escalation timer must be (re)scheduled."""
    absorb(rules, facts, member)
    return conclude(rules, incident, facts, member, now, group_labels, model, low_confidence, automatic)


def conclude(rules: RuleSet, incident: Incident, facts: Facts, member: Member, now: datetime,
             group_labels: dict[str, str], model: LearnedModel | None = None, low_confidence: float = 0.0,
             automatic: bool = True) -> bool:
    """`derive` once the aggregates are current (`member`: the latest)."""
    scope = group_labels or {k: v for k, v in facts.common.items() if k != "alertname"}
    roots = _causal_roots(rules, facts)
    cause = roots[0] if roots else None
    incident.title = decisions.title(facts.names, len(facts.fingerprints), member, scope,
                                     cause.name if cause is not None else None, lambda: _subject(facts, cause))
    incident.services = tuple(facts.services)
    _classify(rules, incident, facts, roots, now, model if automatic else None, low_confidence, automatic)
    if not incident.priority_set_by_operator:
        _prioritise(rules, incident, facts, now)
    _assign(rules, incident, facts, now)
    pending, facts.escalation_pending = facts.escalation_pending, False
    return pending


def _causal_roots(rules: RuleSet, facts: Facts) -> tuple[Candidate, ...]:
    """The likeliest causes in causal order (`roots.in_causal_order`), ordered again only when
    they changed."""
    ranked_as, ordered = facts.causal
    if len(ranked_as) != len(facts.roots) or any(a is not b for a, b in zip(ranked_as, facts.roots)):
        ordered = tuple(in_causal_order(facts.roots, rules.causal_roles))
        facts.causal = tuple(facts.roots), ordered
    return ordered


def _subject(facts: Facts, cause: Candidate) -> str:
    """What the likeliest cause is about (the title's), read once per cause."""
    if facts.lead is None or facts.lead[0] is not cause:
        facts.lead = cause, subject_of(cause.member.labels)
    return facts.lead[1]


class _Decision(msgspec.Struct, frozen=True):  # two per classification: a Struct builds 3x cheaper
    value: str
    source: str  # a classify rule's name, "lexicon" or "model"
    alert: str = ""  # the member alert it read (the model reads them all)
    words: tuple[str, ...] = ()  # the lexicon's evidence
    confidence: float | None = None  # the model's probability

    def __str__(self) -> str:
        if self.source == "model":
            return f"model, confidence {self.confidence:.2f}"
        said = f": {', '.join(self.words)}" if self.words else ""
        return f"{'rule ' if self.source != 'lexicon' else ''}{self.source}, alert {self.alert}{said}"


def _rule_for(rules: RuleSet, labels: dict[str, str], name: str) -> int | None:
    """The first classify rule that sets field `name` and matches these labels."""
    return decisions.first_match(rules.classifiers, labels, lambda rule: getattr(rule, name) is not None)


def _decide(rules: RuleSet, facts: Facts, roots: tuple[Candidate, ...], name: str, lexicon: bool) -> _Decision | None:
    """A field from the likeliest cause that says something about it: its classify rule, else (if
    `lexicon`) its words. A candidate whose category is known gives its words' service area too."""
    for candidate in roots:
        labels, reading = candidate.member.labels, candidate.reading
        hosts = len(facts.hosts_by_name.get(candidate.name, ()))
        index = _rule_for(rules, labels, name)
        if index is not None:
            rule = rules.classifiers[index]
            return _Decision(getattr(rule, name), rule.name, candidate.name)
        if lexicon and (reading.opinion(hosts) is not None or _rule_for(rules, labels, "category") is not None):
            value = reading.opinion(hosts) if name == "category" else reading.service_area
            return _Decision(value, "lexicon", candidate.name, reading.grounds(hosts))
    return None


def _classify(rules: RuleSet, incident: Incident, facts: Facts, roots: tuple[Candidate, ...], now: datetime,
              model: LearnedModel | None, low_confidence: float, lexicon: bool) -> None:
    """From the root alert (`roots`: the likeliest causes in causal order): classify rules first,
    then the lexicon's reading of its words; the model decides what neither says (with its
    confidence)."""
    if incident.classification is not None and incident.classification.reason is DecisionReason.RECLASSIFIED:
        return  # an operator decided
    if not facts.reclassify and incident.classification is not None and \
            (facts.prediction is not None or not incident.classification_confidence):
        return
    facts.reclassify = False
    decided = {name: _decide(rules, facts, roots, name, lexicon) for name, _ in CLASSIFIED}
    if model is not None and None in decided.values():
        if facts.prediction is None:
            facts.prediction = model.classify(incident_document(list(facts.documents.values())))
        for (name, kind), prediction in zip(CLASSIFIED, facts.prediction):
            if decided[name] is None:
                decided[name] = _Decision(kind(prediction.label), "model",
                                          confidence=round(prediction.confidence, 3))
    values = {name: decision.value if decision else None for name, decision in decided.items()}
    confidence = {name: d.confidence for name, d in decided.items() if d is not None and d.confidence is not None}
    low = sorted(name for name, value in confidence.items() if value < low_confidence)
    detail = ", ".join(f"{name}={values[name]}" + (f" ({decision}{', low' if name in low else ''})" if decision
                                                     else "") for name, decision in decided.items())
    root = roots[0].name if roots else ""
    if roots and roots[0] is not facts.roots[0]:  # the earliest-ranked is another's effect: say whose
        name, rule = explained_by(facts.roots[0], facts.roots, rules.causal_roles)
        detail += f"; {facts.roots[0].name} is an effect of {name} (rule {rule})"
    sources = [d.source for d in decided.values() if d is not None]
    automatic = [source for source in ("lexicon", "model") if source in sources]
    grounds = ", ".join(dict.fromkeys([s for s in sources if s not in automatic] + automatic))  # rules first
    explanation = Explanation(DecisionReason.CLASSIFIED, grounds, {"alertname": root} if root else {}, detail)
    if explanation == incident.classification:
        return
    incident.classification = explanation
    category, area = values["category"], values["service_area"]
    if (category, area) == (incident.category, incident.service_area) and confidence.keys() == \
            incident.classification_confidence.keys():
        return  # the same fields for other reasons: explained, not an event
    incident.category, incident.service_area = category, area
    incident.classification_confidence = confidence
    incident.record(now, TimelineKind.CLASSIFIED, category=category, service_area=area, rule=grounds, root=root,
                    **({"confidence": confidence, "low_confidence": low} if confidence else {}))


def _prioritise(rules: RuleSet, incident: Incident, facts: Facts, now: datetime) -> None:
    """ITIL: the most urgent member x the impact of the affected services."""
    impact = decisions.impact_of(rules, incident.services, facts.radius, incident.category == Category.SECURITY)
    urgency, urgent_labels = facts.urgency
    priority = rules.priority.matrix[impact][urgency]
    if (priority, impact, urgency) == (incident.priority, incident.impact, incident.urgency) \
            and incident.prioritisation is not None:
        return
    kind = TimelineKind.PRIORITISED if incident.prioritisation is None else TimelineKind.REPRIORITISED
    incident.priority, incident.impact, incident.urgency = priority, impact, urgency
    incident.prioritisation = Explanation(
        DecisionReason.PRIORITISED, rules.priority.name, urgent_labels,
        f"impact {impact} (services: {', '.join(incident.services) or 'none'}; affected: {facts.radius.breadth()})"
        f" x urgency {urgency} = {priority}")
    incident.record(now, kind, priority=priority, impact=impact, urgency=urgency, rule=rules.priority.name)
    facts.escalation_pending = True


def _assign(rules: RuleSet, incident: Incident, facts: Facts, now: datetime) -> None:
    """The first assign rule a member gives a team to, else an affected service's owner."""
    if incident.assignment is not None and incident.assignment.reason is not DecisionReason.ASSIGNED:
        return  # escalated or set by an operator: rules no longer reassign
    if facts.assignment is not None:
        _, team, tier, why = facts.assignment
    else:
        owner = decisions.owner_of(rules, incident.services)
        if owner is None:
            return
        (team, why), tier = owner, 1
    if team != incident.team:
        incident.team, incident.tier, incident.assignment = team, tier, why
        incident.record(now, TimelineKind.ASSIGNED, team=team, tier=tier, rule=why.rule)
