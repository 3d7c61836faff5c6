"""Why the engine decided what it did, and what a timeline event records: enums, so that the same
value explains a decision in the API, labels its metric and names its test."""

from __future__ import annotations

import enum


class JoinReason(enum.StrEnum):
    """Why an alert is a member of its incident."""

    NEW_INCIDENT = "new_incident"  # no rule placed it: it opened an incident of its own
    RECURRENCE = "recurrence"  # a new episode of an alert of the incident, while the incident was open
    GROUP = "group"  # same group_by values as the incident's alerts
    REOPENED = "reopened"  # a re-fire of the group within the reopen window
    REFIRED = "refired"  # the same alert firing again (flapping): back to the incident only it made up
    LINK = "link"  # a link rule related it to an alert of the incident
    DEPENDENCY = "dependency"  # its service depends on (or is depended on by) the incident's
    SYMPTOM = "symptom"  # a suppress rule made it a symptom of the incident's source alert
    RELATED = "related"  # no rule placed it: evidence relates it to a member (learning/joiner.py)
    STORM = "storm"  # no rule placed it: one of its name's storm
    ABSORBED = "absorbed"  # it opened an incident before its cause came, which then took that incident in


LEARNED_REASONS = frozenset({JoinReason.RELATED, JoinReason.STORM})  # their explanation carries the evidence


class Suppression(enum.StrEnum):
    """Why an alert opened no incident."""

    MAINTENANCE = "maintenance"


class DecisionReason(enum.StrEnum):
    """Why an incident's classification, priority or assignment is what it is."""

    CLASSIFIED = "classified"  # by classify rules or the model
    RECLASSIFIED = "reclassified"  # by an operator
    PRIORITISED = "prioritised"  # by the priority rule's impact x urgency matrix
    ASSIGNED = "assigned"  # by an assign rule or the service catalog
    ESCALATED = "escalated"  # by an escalate rule or an operator
    OPERATOR = "operator"  # assigned or prioritised by an operator


Reason = JoinReason | Suppression | DecisionReason


class TimelineKind(enum.StrEnum):
    """What a timeline event records."""

    CREATED = "created"
    ALERT_JOINED = "alert_joined"
    ALERT_RESOLVED = "alert_resolved"
    ALERT_INHIBITED = "alert_inhibited"  # it became a symptom of a source alert
    ALERT_RELEASED = "alert_released"  # its source stopped firing: placed again
    ALERT_MOVED = "alert_moved"  # into another incident (detail: into)
    FLAPPING = "flapping"
    CLASSIFIED = "classified"
    RECLASSIFIED = "reclassified"
    PRIORITISED = "prioritised"
    REPRIORITISED = "reprioritised"
    ASSIGNED = "assigned"
    COMMENTED = "commented"
    # State transitions: each named for the state it enters (an incident opens again by REOPENED).
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    MERGED = "merged"
    SPLIT = "split"
    PROBLEM_LINKED = "problem_linked"
    # Forwarding (correlator/forward/), recorded by the delivery worker, not the engine: the incident's
    # object in a destination (ticket, alert) once first created, and a delivery given up on.
    TICKET_LINKED = "ticket_linked"
    DELIVERY_FAILED = "delivery_failed"


# The events whose detail names why an alert was placed: their `reason` (and a kept explanation's) is
# a JoinReason. Other events' `reason` is an operator's own words.
JOIN_KINDS = frozenset({TimelineKind.ALERT_JOINED, TimelineKind.ALERT_INHIBITED, TimelineKind.ALERT_RELEASED,
                        TimelineKind.ALERT_MOVED, TimelineKind.MERGED})
