"""What an incident is, derived from its members: title, services, classification, priority,
assignment. Kept as running aggregates (`Facts`), so a join costs O(rules + labels) however big
the incident already is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from correlator.engine import decisions
from correlator.engine.model import Explanation, Incident, Member
from correlator.ml.features import DOCUMENT_NAMES, document, incident_document
from correlator.ml.model import LearnedModel
from correlator.rules.loader import RuleSet
from correlator.rules.matchers import matches_all
from correlator.rules.schema import Category, ServiceArea


PLACES = 3  # enough to tell one, two, and many places affected
CLASSIFIED = (("category", Category), ("service_area", ServiceArea))  # in the model's prediction order


@dataclass(slots=True)
class Facts:
    """Running aggregates over an incident's members."""

    common: dict[str, str] = field(default_factory=dict)  # labels every member shares
    names: dict[str, int] = field(default_factory=dict)  # alertname -> members
    services: dict[str, None] = field(default_factory=dict)
    # Tuples, not sets: small, and an empty set alone costs 216 bytes in each incident.
    places: tuple[str, ...] = ()  # where members' trouble is (at most PLACES, distinct)
    category: int | None = None  # index of the classify rule that sets the category
    service_area: int | None = None
    urgency: tuple | None = None  # (Level, grounds)
    assignment: tuple | None = None  # (rule index, team, tier, why)
    escalations: tuple[int, ...] = ()  # escalate rules a member matches
    escalation_pending: bool = False
    documents: dict[str, str] = field(default_factory=dict)  # alertname -> its first member's document
    prediction: tuple | None = None  # the model's (category, service area) for these documents


def absorb(rules: RuleSet, facts: Facts, member: Member) -> None:
    """Fold one member into the aggregates (no effect on the incident yet)."""
    # The first member's labels themselves (never mutated: narrowing builds a new dict).
    facts.common = {k: v for k, v in facts.common.items() if member.labels.get(k) == v} \
        if facts.names else member.labels
    name = member.labels.get("alertname", "alert")
    facts.names[name] = facts.names.get(name, 0) + 1
    if name not in facts.documents and len(facts.documents) < DOCUMENT_NAMES:
        facts.documents[name] = document(member.labels, member.annotations)
        facts.prediction = None
    facts.services.update(dict.fromkeys(member.services))
    if len(facts.places) < PLACES:
        place = decisions.place_of(member.labels)
        if place and place not in facts.places:
            facts.places += (place,)
    # Classification: for each field, the first classify rule (in rule order) any member matches.
    for field_name in ("category", "service_area"):
        index = decisions.first_match(rules.classifiers, member.labels,
                                      lambda rule: getattr(rule, field_name) is not None)
        if index is not None and (getattr(facts, field_name) is None or index < getattr(facts, field_name)):
            setattr(facts, field_name, index)
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


def derive(rules: RuleSet, incident: Incident, facts: Facts, member: Member, now: datetime,
           group_labels: dict[str, str], model: LearnedModel | None = None, low_confidence: float = 0.0) -> bool:
    """After `member` joined: update the incident and record each change in its timeline.
    Returns whether its escalation timer must be (re)scheduled."""
    absorb(rules, facts, member)
    scope = group_labels or {k: v for k, v in facts.common.items() if k != "alertname"}
    incident.title = decisions.title(facts.names, len(incident.members), member, scope)
    incident.services = tuple(facts.services)
    _classify(rules, incident, facts, now, model, low_confidence)
    if not incident.priority_set_by_operator:
        _prioritise(rules, incident, facts, now)
    _assign(rules, incident, facts, now)
    pending, facts.escalation_pending = facts.escalation_pending, False
    return pending


def _classify(rules: RuleSet, incident: Incident, facts: Facts, now: datetime, model: LearnedModel | None,
              low_confidence: float) -> None:
    """Classify rules first; the model decides the fields no rule set (with its confidence)."""
    if incident.classification is not None and incident.classification.reason == "reclassified":
        return  # an operator decided
    decided = {"category": facts.category, "service_area": facts.service_area}
    values = {name: getattr(rules.classifiers[index], name) if index is not None else None
              for name, index in decided.items()}
    confidence: dict[str, float] = {}
    if model is not None and None in values.values():
        if facts.prediction is None:
            facts.prediction = model.classify(incident_document(list(facts.documents.values())))
        for (name, kind), prediction in zip(CLASSIFIED, facts.prediction):
            if values[name] is None:
                values[name], confidence[name] = kind(prediction.label), round(prediction.confidence, 3)
    category, area = values["category"], values["service_area"]
    if (category, area) == (incident.category, incident.service_area) and confidence.keys() == \
            incident.classification_confidence.keys():
        return
    grounds = ", ".join([*(rules.classifiers[i].name for i in dict.fromkeys(decided.values()) if i is not None),
                         *(["model"] if confidence else [])])
    low = sorted(name for name, value in confidence.items() if value < low_confidence)
    detail = ", ".join(f"{name}={values[name]}" + (f" (model, confidence {confidence[name]:.2f}"
                                                   f"{', low' if name in low else ''})" if name in confidence else "")
                       for name in decided)
    incident.category, incident.service_area = category, area
    incident.classification_confidence = confidence
    incident.classification = Explanation("classified", grounds, detail=detail)
    incident.record(now, "classified", category=category, service_area=area, rule=grounds,
                    **({"confidence": confidence, "low_confidence": low} if confidence else {}))


def _prioritise(rules: RuleSet, incident: Incident, facts: Facts, now: datetime) -> None:
    """ITIL: the most urgent member x the impact of the affected services."""
    impact = decisions.impact_of(rules, incident.services, len(facts.places))
    urgency, urgent_labels = facts.urgency
    priority = rules.priority.matrix[impact][urgency]
    if (priority, impact, urgency) == (incident.priority, incident.impact, incident.urgency) \
            and incident.prioritisation is not None:
        return
    kind = "prioritised" if incident.prioritisation is None else "reprioritised"
    incident.priority, incident.impact, incident.urgency = priority, impact, urgency
    incident.prioritisation = Explanation(
        "prioritised", rules.priority.name, urgent_labels,
        f"impact {impact} (services: {', '.join(incident.services) or 'none'}; places affected: "
        f"{len(facts.places)}{'+' if len(facts.places) == PLACES else ''}) x urgency {urgency} = {priority}")
    incident.record(now, kind, priority=priority, impact=impact, urgency=urgency, rule=rules.priority.name)
    facts.escalation_pending = True


def _assign(rules: RuleSet, incident: Incident, facts: Facts, now: datetime) -> None:
    """The first assign rule a member gives a team to, else an affected service's owner."""
    if incident.assignment is not None and incident.assignment.reason != "assigned":
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
        incident.record(now, "assigned", team=team, tier=tier, rule=why.rule)
