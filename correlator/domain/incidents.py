"""Incidents, their members, timeline and problems: the engine's state and the store's, plain typed values."""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping

import msgspec

from correlator.domain.alerts import Alert, AlertStatus
from correlator.domain.classification import Category, Level, Priority, ServiceArea
from correlator.domain.reasons import Reason, TimelineKind


class IncidentState(enum.StrEnum):
    OPEN = "open"  # detected and logged
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    CLOSED = "closed"


# Which state may follow which. RESOLVED -> OPEN is a reopen (a re-fire within the reopen window, or an
# operator's reopen action).
TRANSITIONS: dict[IncidentState, frozenset[IncidentState]] = {
    IncidentState.OPEN: frozenset({IncidentState.ACKNOWLEDGED, IncidentState.INVESTIGATING,
                                   IncidentState.ESCALATED, IncidentState.RESOLVED}),
    IncidentState.ACKNOWLEDGED: frozenset({IncidentState.INVESTIGATING, IncidentState.ESCALATED,
                                           IncidentState.RESOLVED}),
    IncidentState.INVESTIGATING: frozenset({IncidentState.ESCALATED, IncidentState.RESOLVED}),
    IncidentState.ESCALATED: frozenset({IncidentState.ACKNOWLEDGED, IncidentState.INVESTIGATING,
                                        IncidentState.RESOLVED}),
    IncidentState.RESOLVED: frozenset({IncidentState.CLOSED, IncidentState.OPEN}),
    IncidentState.CLOSED: frozenset(),
}

ACTIVE_STATES = frozenset({IncidentState.OPEN, IncidentState.ACKNOWLEDGED, IncidentState.INVESTIGATING,
                           IncidentState.ESCALATED})


class Explanation(msgspec.Struct, frozen=True):
    """A decision and its grounds: the rule that took it and the labels it looked at. (Frozen
    msgspec Structs, as `Alert`: several are built per alert, at a third of a frozen dataclass's cost.)"""

    reason: Reason
    rule: str
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    detail: str = ""


def interned(labels: Mapping[str, str]) -> dict[str, str]:
    """A copy of `labels` whose names and values are interned: the engine holds every active alert,
    and most values (a severity, a cluster, a job, an alert name) repeat across thousands of them;
    interned, each is one string instead of one per member."""
    return {sys.intern(name): sys.intern(value) for name, value in labels.items()}


@dataclass(slots=True)
class Member:
    fingerprint: str
    starts_at: datetime
    labels: dict[str, str]
    annotations: dict[str, str]
    status: AlertStatus
    ends_at: datetime | None
    joined_at: datetime
    why: Explanation
    services: tuple[str, ...] = ()
    # The engine's count of placements (openings, joins, moves) when it was last placed in its
    # incident: a restore registers members in that order, as placing them did (0: not recorded).
    placement: int = field(default=0, compare=False)
    moved: bool = field(default=False, compare=False)  # placed there by a merge or split, not by joining
    # Its score as the cause of its incident were it no symptom (engine/roots.py), once read: an
    # incident's likeliest causes are ranked again without reading every member again.
    cause_score: float | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A firing alert a group rule holds, opening no incident, until `min_alerts` alerts of its
    group fire within the rule's window (then they all open one)."""

    alert: Alert
    rule: str
    group_key: str
    group_labels: dict[str, str]
    min_alerts: int
    arrived_at: datetime
    services: tuple[str, ...] = ()


class TimelineEvent(msgspec.Struct, frozen=True):
    at: datetime
    kind: TimelineKind
    actor: str
    detail: dict


@dataclass(slots=True)
class Incident:
    id: str
    state: IncidentState
    title: str
    opened_at: datetime
    last_alert_at: datetime
    group_key: str
    members: dict[tuple[str, datetime], Member] = field(default_factory=dict)
    category: Category | None = None
    service_area: ServiceArea | None = None
    classification: Explanation | None = None
    # The model's probability for each field it decided (fields decided by rules are absent).
    classification_confidence: dict[str, float] = field(default_factory=dict)
    priority: Priority = Priority.P5
    impact: Level = Level.LOW
    urgency: Level = Level.LOW
    prioritisation: Explanation | None = None
    services: tuple[str, ...] = ()
    team: str = ""
    tier: int = 1
    assignment: Explanation | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    problem_id: str | None = None
    firing: int = 0  # members still firing
    priority_set_by_operator: bool = False
    timeline: list[TimelineEvent] = field(default_factory=list)
    placement: int = field(default=0, compare=False)  # the engine's count of placements at its opening (Member)
    # Members joined, resolved or moved since the store last saved this incident.
    changed_members: set[tuple[str, datetime]] = field(default_factory=set, repr=False, compare=False)
    # `only_by`'s memory: the timeline events it has read, and the first actor other than the one asked.
    _read_events: int = field(default=0, repr=False, compare=False)
    _other_actor: bool = field(default=False, repr=False, compare=False)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def record(self, at: datetime, kind: TimelineKind, actor: str = "correlator", **detail) -> None:
        self.timeline.append(TimelineEvent(at, kind, actor, detail))

    def only_by(self, actor: str) -> bool:
        """Whether every event of the timeline is `actor`'s. The timeline only grows, so each event
        is read once: a storm's incident of thousands of events is asked at every alert."""
        timeline = self.timeline
        if self._read_events > len(timeline):  # a timeline put in place anew (never in the engine)
            self._read_events, self._other_actor = 0, False
        if not self._other_actor:
            self._other_actor = any(event.actor != actor for event in timeline[self._read_events:])
        self._read_events = len(timeline)
        return not self._other_actor


@dataclass(frozen=True, slots=True)
class IncidentPage:
    """Part of an incident, as its detail view shows it: its first members in join order and its
    latest timeline events, with what the whole holds. The store reads a storm's page without
    building its ten thousand members."""
    incident: Incident  # the header: the view reads neither its members nor its timeline
    members: list[Member]  # in join order
    timeline: list[TimelineEvent]
    fingerprints: list[str]  # every member's, distinct and sorted
    alerts: int
    events: int


class ProblemState(enum.StrEnum):
    OPEN = "open"  # its incidents recur
    INACTIVE = "inactive"  # none opened within the recurrence period: the engine lets it go


@dataclass(slots=True)
class Problem:
    """Incidents restore service; a problem record tracks the recurring cause behind them."""

    id: str
    signature: str
    opened_at: datetime
    last_seen: datetime
    incident_ids: list[str] = field(default_factory=list)
    state: ProblemState = ProblemState.OPEN
