"""The vocabulary every step shares: alerts, incidents, their classification, the reasons for the
engine's decisions and the errors that carry their field. It imports nothing else of correlator but
`units`, so that store, engine, api and ml depend on it and not on each other."""

from correlator.domain.alerts import MAX_NAME_LENGTH, MAX_SOURCE_LENGTH, Alert, AlertStatus, RawNotification, Source
from correlator.domain.classification import Category, Level, Priority, ServiceArea
from correlator.domain.errors import (FieldError, InvalidAction, PayloadError, TransitionError, UnknownIncident,
                                      from_msgspec)
from correlator.domain.incidents import (ACTIVE_STATES, TRANSITIONS, Candidate, Explanation, Incident, IncidentPage,
                                         IncidentState, Member, Problem, ProblemState, TimelineEvent,
                                         interned)
from correlator.domain.reasons import (JOIN_KINDS, LEARNED_REASONS, DecisionReason, JoinReason, Reason, Suppression,
                                       TimelineKind)

__all__ = [
    "ACTIVE_STATES", "JOIN_KINDS", "LEARNED_REASONS", "MAX_NAME_LENGTH", "MAX_SOURCE_LENGTH", "TRANSITIONS", "Alert",
    "AlertStatus", "Candidate", "Category", "DecisionReason", "Explanation", "FieldError", "Incident", "IncidentPage",
    "IncidentState", "InvalidAction", "JoinReason", "Level", "Member", "PayloadError", "Priority", "Problem",
    "ProblemState", "RawNotification", "Reason", "ServiceArea", "Source", "Suppression", "TimelineEvent",
    "TimelineKind", "TransitionError", "UnknownIncident", "from_msgspec", "interned",
]
