"""The correlation engine: a deterministic function of (alerts in arrival order, clock).

For each alert, the stages run in the order `Engine.STAGES` and `Engine.PLACEMENT` list them (the
one place the order is written down in code; each stage returns its decision, or None to pass the
alert on). What each decides:

    1. dedup        a repeat of a known episode changes nothing but its endsAt (the latest snapshot's);
                    a resolution resolves its member; an alert whose startsAt is new but whose activity
                    overlaps its latest episode (HA replicas) is that episode
    2. maintenance  inside a maintenance window: recorded, opens no incident
    3. suppress     inhibited by a firing source alert: joins the source's incident as a symptom
                    (engine/inhibition.py: Alertmanager's semantics; a later source takes the
                    targets already present, a resolved source releases its symptoms, which
                    are placed again by stages 5-8 and 10)
    4. recurrence   a new episode of a flapping alert whose incident is still open and holds only
                    its episodes joins it (a flapping alert stays one incident; a cascade's alert
                    firing again alone is placed by the stages below)
    5. link         related through a link rule to an alert of an open incident: joins it
    6. dependency   its service depends on (or is depended on by) a service with an open incident
    7. group        joins the open incident of its group key (or reopens it); an alert no group rule
                    matches that flaps (fired briefly, fires again minutes later) goes back to the
                    resolved incident only its own earlier episodes made up, within the reopen window
    8. related      no rule placed it: it joins an open incident only on evidence, a relation to one
                    specific member (same or neighbouring entity, learned topology) and a reason the
                    names belong together (relate rule, learned co-occurrence, a quiet entity), or
                    its name's storm (learning/joiner.py); its group key then follows it there.
                    An incident whose alerts have all cleared (in its resolve hold) takes none:
                    it is over, and a recurrence is a new incident; but an alert that started
                    before they cleared (Alertmanager held it) joins it, and reopens it if it
                    resolved, within the reopen window.
                    A storm just recognised takes in the incidents its first alerts opened, and a
                    storm split by a pause that starts delivered later fill is one again: engine
                    merges (`_absorb`), never of an incident an operator touched. An alert of a
                    raging storm that a relate rule relates to its effect joins the storm where
                    the effect's incident follows it there (stage 11), else its effect
    9. candidates   its group rule wants `min_alerts` alerts within its window: below that it is a
                    candidate and opens nothing; the alert that reaches it opens the incident with
                    every candidate of its group
   10. own incident otherwise it opens an incident of its own: a recurrence of an alert whose incident
                    held other alerts too is a new incident (the rest of the recurrence joins it
                    on evidence), unless a group rule's key reopens it within the reopen window
   11. absorb       however it was placed, an alert that is the cause (relate rules) of alerts that
                    came before it and opened incidents of their own takes those incidents in: each
                    open, still firing, untouched by operators, every alert of it an effect of the
                    new one on the evidence of stage 8 that started at most 2 minutes before it;
                    the engine merges it into the alert's incident (learning/joiner.py `absorbable`;
                    its members' `why` becomes `absorbed`, both timelines record the merge).
                    An alert the related stage placed takes in, the same way, the incidents every
                    alert of which it relates to as well (`_take_in_related`)
   every new episode, however placed, then teaches the learned topology and co-occurrence;
   then, for the incident it joined: title, services, classify (rules, then the model), prioritise,
   assign, escalation timer.

`advance(now)` fires the timers that are due (engine/timers.py): an alert's endsAt passing without
a re-send, auto-resolve after the hold (the flap hold-down when an alert flaps), a candidate's
window, escalation when not acknowledged in time, close after resolution. Nothing here reads the wall
clock.
"""

from __future__ import annotations

import enum
import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from operator import itemgetter
from typing import Callable, Mapping

import msgspec

from correlator.domain import (ACTIVE_STATES, LEARNED_REASONS, TRANSITIONS, Alert, AlertStatus, Candidate, Explanation,
                               Incident, IncidentState, JoinReason, Member, Problem, Source, TimelineKind,
                               TransitionError, interned)
from correlator.domain.placements import Placements
from correlator.engine import decisions
from correlator.engine.derivation import Facts, absorb, conclude, derive, withdraw
from correlator.engine.flapping import FlapTracker
from correlator.engine.inhibition import Inhibition, InhibitionStage, Inhibitor
from correlator.engine.operations import OperatorActions
from correlator.engine.candidates import Candidates
from correlator.engine.timers import ENGINE, Scheduled, Timers
from correlator.engine.problems import ProblemTracker
from correlator.learning import state
from correlator.learning.cooccurrence import WINDOW as LEARNED_WINDOW
from correlator.learning.joiner import Join, Learner
from correlator.ml.model import LearnedModel
from correlator.rules.loader import RuleSet
from correlator.rules.matchers import matches_all

@dataclass(frozen=True, slots=True)
class EngineSettings:
    resolve_hold: timedelta = timedelta(minutes=5)
    # An alert changing state more than flap_changes times within flap_window flaps: its incident is
    # then held open flap_hold after its alerts cleared, instead of resolving and reopening.
    flap_changes: int = 4
    flap_window: timedelta = timedelta(hours=1)
    flap_hold: timedelta = timedelta(hours=1)
    reopen_window: timedelta = timedelta(minutes=30)
    close_after: timedelta = timedelta(hours=24)
    problem_recurrences: int = 3
    problem_period: timedelta = timedelta(days=7)
    learning: bool = True  # learn the estate online and join what no rule placed on its evidence
    learning_save_every: timedelta = timedelta(minutes=5)  # event time between learned-state snapshots
    classification: bool = True  # classify what no classify rule did: the lexicon, then the model
    low_confidence: float = 0.6  # model classifications below this are marked low-confidence


FLAP_GAP = timedelta(minutes=10)  # an alert that fired no longer than this and fires again this soon flaps
# An alert that flaps (its state changed that often within the hour: ingest.flapping) and fires
# again this long after its last episode ended fires for another cause: in a busy estate a
# popular service's error rate fires for a fault every quarter hour, and by the count it flaps.
FLAP_RETURN = timedelta(minutes=20)


def _flapped(incident: Incident, starts_at: datetime, flaps: bool = False) -> bool:
    """Whether an episode starting at `starts_at` flaps back from the latest of `incident`: that
    one fired no longer than FLAP_GAP and ended no longer than FLAP_GAP before; of an alert that
    `flaps`, ended no longer than FLAP_RETURN before, however long it fired."""
    last = max(incident.members.values(), key=lambda m: m.starts_at)
    ended = last.ends_at or starts_at
    if flaps:
        return starts_at - ended <= FLAP_RETURN
    return starts_at - ended <= FLAP_GAP and ended - last.starts_at <= FLAP_GAP


def _only_episodes_of(incident: Incident, fingerprint: str) -> bool:
    """Whether every member of `incident` is an episode of the alert `fingerprint`."""
    return all(member.fingerprint == fingerprint for member in incident.members.values())


def _engine_may_merge(incident: Incident) -> bool:
    """Whether the engine may merge `incident` into another by itself: open, and untouched by
    operators (an acknowledged, assigned or hand-merged incident is theirs to merge)."""
    return incident.state is IncidentState.OPEN and incident.only_by(ENGINE)


def _only_named(incident: Incident, name: str) -> bool:
    """Whether every member of `incident` is an alert of `name`."""
    return all(member.labels.get("alertname") == name for member in incident.members.values())


def _by_closeness(member: Member) -> bool:
    """Whether closeness or a learned association placed the member (not a relate rule)."""
    return member.why.reason is JoinReason.RELATED and member.why.rule in ("quiet entity", "learned")


def _explanation(join: Join) -> Explanation:
    return Explanation(join.reason, join.rule, join.labels, join.detail)


class Outcome(enum.StrEnum):
    """What a processed alert did: the dedup stage's decision."""

    NEW = "new"  # a new episode, placed in an incident
    REPEAT = "repeat"  # a snapshot of a known episode (Alertmanager re-sends, HA duplicates)
    RESOLVED = "resolved"  # the resolution of a known episode
    MAINTENANCE = "maintenance"  # recorded during maintenance, no incident


# Seconds from an alert episode's startsAt to the notification that brought it first: the upper
# bounds of the buckets `Engine.delivery_delays` counts (a sender's group_wait and group_interval
# show here; correlator_alert_delivery_delay_seconds).
DELIVERY_DELAY_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, math.inf)


class LearnedDecision(enum.StrEnum):
    """What the learned joining stage decided for an alert no rule placed in an open incident."""

    RULE = "relate_rule"  # related to a member by a relate rule
    LEARNED = "learned"  # by a learned association
    QUIET = "quiet_entity"  # by closeness on a quiet entity
    STORM = "storm"  # joined its name's storm
    NEW_INCIDENT = "new_incident"  # no evidence


@dataclass(slots=True)
class _Episode:
    status: AlertStatus
    incident_id: str | None  # None: recorded without incident (maintenance)
    ends_at: datetime | None = None  # the latest snapshot's: a firing episode expires then; when it resolved
    timed_out: bool = False  # resolved by its endsAt passing, not by the sender: a later firing revives it


class _Arrival(msgspec.Struct, gc=False):
    """An alert on its way through the stages, and the incidents it changed. Built per alert: a
    msgspec Struct costs half a slotted dataclass."""

    alert: Alert
    key: tuple[str, datetime]  # its episode: (fingerprint, startsAt)
    now: datetime
    changed: set[str] = msgspec.field(default_factory=set)


class Held(enum.Enum):
    """A placement stage's decision to place the alert in no incident."""

    CANDIDATE = "candidate"  # below its group rule's min_alerts (a resolved alert there is dropped)


class _Placing(msgspec.Struct, gc=False):
    """A new episode on its way through the placement stages: what they read of it, read once."""

    key: tuple[str, datetime]  # (fingerprint, startsAt)
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    services: tuple[str, ...]
    group: tuple[str, dict[str, str], object]  # `_group_key`'s: the group key, its labels, the rule
    now: datetime
    alert: Alert | None = None  # None: a released symptom placed again (by the rule stages only)
    inhibitor: Inhibitor | None = None  # the suppress stage's
    # The related stage's: members of other incidents it relates to too, and how.
    related: tuple[tuple[tuple, ...], Explanation] | None = None


Placement = tuple[Incident, Explanation]  # where a new episode goes, and why


class Engine(OperatorActions, Timers, Candidates, InhibitionStage):
    def __init__(self, rules: RuleSet, settings: EngineSettings = EngineSettings(), keep_closed: bool = True,
                 model: LearnedModel | None = None):
        """`keep_closed=False` (the daemon): closed incidents leave `incidents` once the caller has
        saved them (`release_closed`); replay keeps them all for its output. `model`: the learned
        layer (None: rules only)."""
        self.rules = rules
        self.settings = settings
        self.model = model
        self.classifier = model if model is not None and settings.classification else None
        self.learner = Learner(rules.relations) if settings.learning else None
        self.learned_decisions: dict[LearnedDecision, int] = dict.fromkeys(LearnedDecision, 0)
        self._learned_saved_at: float | None = None
        self.keep_closed = keep_closed
        self.incidents: dict[str, Incident] = {}
        self.problem_tracker = ProblemTracker(settings.problem_recurrences, settings.problem_period)
        self._closed: list[str] = []
        self._touched: set[str] = set()  # incidents changed as a side effect (linked to a problem)
        self.outcomes: dict[Outcome, int] = dict.fromkeys(Outcome, 0)  # alerts processed, by what they did
        # The last alert processed as the engine read it: under the startsAt of the episode it is,
        # which a sender without startsAt or an HA replica may not have sent (what the alerts view lists).
        self.last_read: Alert | None = None
        # New episodes by how long after they started they came (DELIVERY_DELAY_BUCKETS), and those seconds
        self.delivery_delays = [0] * len(DELIVERY_DELAY_BUCKETS)
        self.delivery_delay_seconds = 0.0
        self._episodes: dict[tuple[str, datetime], _Episode] = {}
        self._by_group: dict[str, str] = {}
        self._by_link: dict[tuple[str, str, str], str] = {}
        self._by_service: dict[str, str] = {}
        self.inhibition = Inhibition(rules.suppressions)
        self._timers: list[Scheduled] = []
        self._hold_until: dict[str, datetime] = {}
        self._flaps = FlapTracker(settings.flap_changes, settings.flap_window)
        self._by_fingerprint: dict[str, str] = {}  # an alert -> the incident of its latest episode
        self._latest_episode: dict[str, tuple[str, datetime]] = {}  # an alert -> its latest episode recorded
        self._candidates: dict[str, dict[tuple[str, datetime], Candidate]] = {}  # per group key, below min_alerts
        self._candidate_group: dict[tuple[str, datetime], str] = {}
        self.candidates_version = 0
        self._timer_sequence = 0
        self._incident_sequence = 0
        self._placements = 0  # incidents opened and members placed (joined or moved): their order, for a restore
        self._facts: dict[str, Facts] = {}  # per incident: what its derived fields are computed from
        self._index_keys: dict[str, list[tuple[dict, object]]] = {}  # per incident: its index entries

    # -- input -------------------------------------------------------------------------------

    @property
    def sequences(self) -> tuple[int, int]:
        """(incidents, problems) numbered so far: saved with the watermark so ids never repeat."""
        return self._incident_sequence, self.problem_tracker.sequence

    @property
    def problems(self) -> dict[str, Problem]:
        return self.problem_tracker.problems

    def process(self, alert: Alert, now: datetime) -> set[str]:
        """Feed one received alert; returns the ids of the incidents it changed."""
        changed = self.advance(now)
        changed |= self._process(alert, self.event_time(now))
        if self._touched:
            changed |= self._touched
            self._touched = set()
        return changed

    def _process(self, alert: Alert, now: datetime) -> set[str]:
        arrival = _Arrival(alert, (alert.fingerprint, alert.starts_at), now)
        for stage in self.STAGES:
            if (outcome := stage(self, arrival)) is not None:
                break
        self.last_read = arrival.alert
        self.outcomes[outcome] += 1
        if outcome is Outcome.NEW:
            delay = max((now - alert.starts_at).total_seconds(), 0.0)
            self.delivery_delays[bisect_left(DELIVERY_DELAY_BUCKETS, delay)] += 1
            self.delivery_delay_seconds += delay
        return arrival.changed

    def _replica_of(self, alert: Alert) -> tuple[str, datetime] | None:
        """The alert's latest episode when `alert`, of a startsAt not seen, overlaps it in time, as
        Alertmanager merges alerts of one fingerprint (provider/mem `Put`): HA replicas of Prometheus
        evaluate at their own moments, and a sender without startsAt stamps each send anew. A
        firing alert overlaps a firing episode; a resolution overlaps it when it ended after the
        episode started; any alert overlaps a resolved episode when it started before that ended."""
        latest = self._latest_episode.get(alert.fingerprint)
        episode = self._episodes.get(latest) if latest is not None else None
        if episode is None:
            return None
        if episode.status is AlertStatus.FIRING:
            if _replaced(alert, latest):
                return None
            overlaps = alert.status is AlertStatus.FIRING or alert.ends_at is None or alert.ends_at > latest[1]
        else:
            overlaps = episode.ends_at is not None and alert.starts_at < episode.ends_at
        return latest if overlaps else None

    def reload(self, rules: RuleSet) -> None:
        """Put new rules in force. Incidents keep what was decided; their aggregates are recomputed
        under the new rules, which apply to every alert from now on."""
        self.rules = rules
        if self.learner is not None:
            self.learner.set_relations(rules.relations)
        self.inhibition = Inhibition(rules.suppressions)
        for incident in self.incidents.values():
            facts = self._facts[incident.id] = Facts()
            for key, member in incident.members.items():
                absorb(self.rules, facts, member)
                if member.status is AlertStatus.FIRING:
                    self.inhibition.add(key, member.labels)
            facts.escalation_pending = False
        self._attach_symptoms()

    def place_pods(self, placements: Placements) -> None:
        """Where pods run now (a placement source's news): the learned joining reads a pod's alerts
        as about its node too. Changes no incident."""
        if self.learner is not None:
            self.learner.place_pods(placements)

    def learned_snapshot(self) -> tuple[datetime, dict[str, bytes]] | None:
        """The learned state to save with this step (as of the last alert learned from), when
        `learning_save_every` of event time has passed since the last snapshot; else None."""
        learner = self.learner
        if learner is None or learner.last_at is None or (
                self._learned_saved_at is not None
                and learner.last_at - self._learned_saved_at < self.settings.learning_save_every.total_seconds()):
            return None
        self._learned_saved_at = learner.last_at
        return datetime.fromtimestamp(learner.last_at, timezone.utc), state.snapshot(learner)

    def load_learned(self, parts: dict[str, bytes]) -> None:
        """Put a saved learned state in force (before `restore`)."""
        if self.learner is not None and parts:
            state.restore(self.learner, parts)
            self._learned_saved_at = self.learner.last_at

    def release_closed(self) -> None:
        """Drop closed incidents from memory (after the caller saved them)."""
        if not self.keep_closed:
            for incident_id in self._closed:
                self.incidents.pop(incident_id, None)
        self._closed.clear()

    def restore(self, incidents: list[Incident], problems: list[Problem],
                openings: list[tuple[datetime, str, str]], incident_sequence: int, problem_sequence: int,
                recently_closed: list[Incident] = ()) -> None:
        """Rebuild the working state from the store: the unclosed incidents, the problems, the
        recent incident openings (for problem detection), and the incidents closed within
        `restore_horizon` (their alerts' flaps, and their starts the learner relates new alerts
        to). Indexes and timers are caches of these: rebuilt, they decide as they did."""
        self._incident_sequence = incident_sequence
        self.problem_tracker.restore(problems, openings, problem_sequence)
        for incident in incidents:
            self.incidents[incident.id] = incident
            self._facts[incident.id] = Facts()
        self._restore_members(incidents)
        for incident in incidents:
            self._facts[incident.id].escalation_pending = False
            if incident.state is IncidentState.RESOLVED:
                self._add_timer(incident.resolved_at + self.settings.close_after, "close", incident.id)
            if incident.state is IncidentState.OPEN:
                self._schedule_escalation(incident, self._facts[incident.id])
        self._restore_flaps(incidents, recently_closed)
        self._attach_symptoms()
        # Time resumes from the latest the store recorded, even when the clock has stepped back since.
        recorded = [incident.timeline[-1].at for incident in incidents if incident.timeline]
        if recorded:
            self.event_time(max(recorded))
        if self.learner is not None:  # recent starts are candidates again (the counts come from the store)
            members = sorted((m.joined_at, key, m.labels, m.annotations) for i in (*incidents, *recently_closed)
                             for key, m in i.members.items())
            for joined_at, key, labels, member_annotations in members:
                self.learner.remember(labels, key, joined_at.timestamp(), key[1].timestamp(), member_annotations)

    def _restore_members(self, incidents: list[Incident]) -> None:
        """Episodes, aggregates and indexes, rebuilt as placing the alerts built them: in the order
        they were placed (joined, or moved by a merge or split), each incident's group key pointed
        at it when it opened. (Placements not recorded, by a version before, count as the earliest,
        in time order.)"""
        openings = [(i.placement, i.opened_at, 0, i.id, None, None) for i in incidents]
        joins = [(m.placement, m.joined_at, 1, i.id, key, m) for i in incidents for key, m in i.members.items()]
        self._placements = max((placed for placed, *_ in openings + joins), default=0)
        timed_out = {i.id: {e.detail["fingerprint"]: e.detail.get("timed_out", False)  # each alert's last resolution
                            for e in i.timeline if e.kind is TimelineKind.ALERT_RESOLVED} for i in incidents}
        for _, key in sorted((m.joined_at, key) for i in incidents for key, m in i.members.items()):
            self._latest_episode[key[0]] = key  # the latest recorded, wherever a merge or split moved it since
        for *_, incident_id, key, member in sorted(openings + joins, key=itemgetter(0, 1, 2, 3)):
            incident = self.incidents[incident_id]
            if member is None:
                self._by_group[incident.group_key] = incident_id
                continue
            absorb(self.rules, self._facts[incident_id], member)
            firing = member.status is AlertStatus.FIRING
            self._episodes[key] = _Episode(member.status, incident_id, member.ends_at,
                                           not firing and timed_out[incident_id].get(member.fingerprint, False))
            self._register(member, key, incident, as_source=firing)
            if not member.moved:  # a learned join takes its group key along; any other join points it if no incident has it
                self._point_group(self._group_key(member.labels, member.fingerprint)[0], incident_id,
                                  replace=member.why.reason in LEARNED_REASONS)
            if firing and member.ends_at is not None:
                self._add_timer(member.ends_at, "expire", "", key)

    def _restore_flaps(self, incidents: list[Incident], recently_closed: list[Incident]) -> None:
        """The alerts' state changes of the recent past, from the timelines; the hold of an
        incident whose alerts all cleared starts once the changes up to its clearing are in, as it
        started then (its last alert resolving, or it reopening or losing alerts with none firing)."""
        changes = sorted((e.at, e.detail["fingerprint"]) for i in (*incidents, *recently_closed) for e in i.timeline
                         if e.kind in (TimelineKind.ALERT_JOINED, TimelineKind.ALERT_RESOLVED))
        holds = sorted((max((e.at for e in i.timeline if e.kind in HOLD_STARTS), default=i.last_alert_at), i.id)
                       for i in incidents if i.active and not i.firing)
        fed = 0
        for cleared_at, incident_id in holds:  # in time order: each feeds the changes after the one before
            until = bisect_right(changes, cleared_at, key=itemgetter(0))
            for changed_at, fingerprint in changes[fed:until]:
                self._flaps.change(fingerprint, changed_at)
            fed = until
            self._start_hold(self.incidents[incident_id], cleared_at)
        for changed_at, fingerprint in changes[fed:]:
            self._flaps.change(fingerprint, changed_at)

    @property
    def restore_horizon(self) -> timedelta:
        """How long before a restore the incidents closed meanwhile still matter to it (`restore`)."""
        return max(self.settings.flap_window, timedelta(seconds=LEARNED_WINDOW))

    def restore_unplaced(self, alerts: list[Alert]) -> None:
        """After `restore`: the firing episodes recorded without incident, from the store (firing
        alerts no incident holds, in arrival order, `received_at` their arrival). Those a group rule
        held below `min_alerts` are its candidates again until their window passes; the others
        (maintenance) stay recorded, so a re-send is a repeat as without a restart."""
        for alert in alerts:
            key = (alert.fingerprint, alert.starts_at)
            if key in self._episodes or self._replica_of(alert) is not None:  # another view of a known episode
                continue
            self._episodes[key] = episode = _Episode(AlertStatus.FIRING, None)
            self._latest_episode[alert.fingerprint] = key
            self._extend(key, alert, episode)
            group_key, group_labels, rule = self._group_key(alert.labels, alert.fingerprint)
            if rule is not None and rule.min_alerts > 1 \
                    and decisions.maintenance(self.rules.maintenance, alert.labels, alert.received_at) is None:
                services = decisions.services_of(self.rules.catalog, alert.labels)
                self._hold(Candidate(alert, rule.name, group_key, group_labels, rule.min_alerts, alert.received_at,
                                     services), key, rule.window)

    # -- the stages -------------------------------------------------------------------------

    def _dedup(self, arrival: _Arrival) -> Outcome | None:
        """Stage 1: a repeat or the resolution of a known episode; None: a new episode."""
        alert, now = arrival.alert, arrival.now
        episode = self._episodes.get(arrival.key)
        if episode is None and (same := self._replica_of(alert)) is not None:
            # Another view of the alert's latest episode (an HA replica's startsAt): it is that
            # episode, under the startsAt it was first seen with.
            episode = self._episodes[same]
            arrival.key, arrival.alert = same, (alert := msgspec.structs.replace(alert, starts_at=same[1]))
        key = arrival.key
        if episode is not None and not (episode.timed_out and alert.status is AlertStatus.FIRING
                                        and (alert.ends_at is None or alert.ends_at > now)):
            # A repeat changes nothing but the end it announces; a late "firing" of a resolved
            # episode changes nothing at all.
            if episode.status is AlertStatus.RESOLVED or alert.status is AlertStatus.FIRING:
                if episode.status is not AlertStatus.RESOLVED:
                    arrival.changed = self._extend(key, alert, episode)
                return Outcome.REPEAT
            arrival.changed = self._resolve_member(key, alert.ends_at or now, episode, now)
            return Outcome.RESOLVED
        if episode is not None:  # it timed out, and the sender fires it again (after a pause): placed anew
            del self._episodes[key]
        latest = self._latest_episode.get(alert.fingerprint)
        held = self._episodes.get(latest) if latest is not None else None
        if held is not None and held.status is AlertStatus.FIRING and _replaced(alert, latest):
            # It ended unseen, before this one started (at the latest then).
            arrival.changed = self._resolve_member(latest, alert.starts_at, held, now)
        self._latest_episode[alert.fingerprint] = key
        return None

    def _maintenance(self, arrival: _Arrival) -> Outcome | None:
        """Stage 2: inside a maintenance window the new episode is recorded, in no incident. It is
        still the estate's: it teaches the learner (what a planned reboot brings down is topology,
        and a heartbeat is part of the stream's pace), though nothing can join it."""
        alert, key = arrival.alert, arrival.key
        if decisions.maintenance(self.rules.maintenance, alert.labels, arrival.now) is None:
            return None
        self._episodes[key] = episode = _Episode(alert.status, None)
        arrival.changed |= self._extend(key, alert, episode)
        self._learn(alert, key, arrival.now)
        return Outcome.MAINTENANCE

    def _new_episode(self, arrival: _Arrival) -> Outcome:
        """Stages 3-11: the new episode is placed (or held as a candidate) and recorded."""
        alert, key, now = arrival.alert, arrival.key, arrival.now
        incident = self._place(alert, key, now)
        if incident is None:  # a candidate, or a resolved alert below min_alerts (nothing to hold)
            if alert.status is AlertStatus.FIRING:
                self._episodes[key] = episode = _Episode(AlertStatus.FIRING, None)
                self._extend(key, alert, episode)
            return Outcome.NEW
        self._episodes[key] = episode = _Episode(AlertStatus.FIRING, incident.id)
        arrival.changed.add(incident.id)
        if alert.status is AlertStatus.RESOLVED:  # first seen already resolved: it fired, then ended
            arrival.changed |= self._resolve_member(key, alert.ends_at or now, episode, now)
        else:
            self._extend(key, alert, episode)
            self._inhibit_present(key, now)  # a source takes the targets already firing
        return Outcome.NEW

    def _place(self, alert: Alert, key: tuple[str, datetime], now: datetime) -> Incident | None:
        """The incident the new episode joins: the first placement stage that decides says which;
        None: it is held as a candidate (or, resolved already, dropped) below its group rule's
        `min_alerts`."""
        labels = alert.labels
        placing = _Placing(key, labels, alert.annotations, decisions.services_of(self.rules.catalog, labels),
                           self._group_key(labels, alert.fingerprint), now, alert)
        for stage in self.PLACEMENT:
            if (placed := stage(self, placing)) is not None:
                break
        if placed is Held.CANDIDATE:
            self._learn(alert, key, now)
            return None
        incident, why = placed
        group_key, group_labels, _ = placing.group
        self._join(incident, alert, key, why, placing.services, now, group_key, group_labels)
        if placing.inhibitor is not None:
            self.inhibition.attach(key, placing.inhibitor.source)
        self._take_in_effects(incident, alert, key, now)
        if placing.related is not None:
            self._take_in_related(incident, *placing.related, now)
        self._learn(alert, key, now)
        return incident

    def _join(self, incident: Incident, alert: Alert, key, why: Explanation, services: tuple[str, ...],
              now: datetime, group_key: str, group_labels: dict[str, str]) -> Member:
        member = Member(alert.fingerprint, alert.starts_at, interned(alert.labels), interned(alert.annotations),
                        AlertStatus.FIRING, alert.ends_at, now, why, services, self._placed())
        incident.members[key] = member
        incident.changed_members.add(key)
        incident.firing += 1
        incident.last_alert_at = now
        incident.record(now, TimelineKind.ALERT_JOINED, fingerprint=alert.fingerprint, reason=why.reason, rule=why.rule,
                        **({"detail": why.detail} if why.reason in LEARNED_REASONS else {}))
        self._changed_state(incident, alert.fingerprint, now)
        self._point_group(group_key, incident.id)
        self._register(member, key, incident)
        self._derive(incident, member, now, group_labels)
        return member

    def _learn(self, alert: Alert, key, now: datetime) -> None:
        if self.learner is not None:
            self.learner.learn(alert.labels, key, now.timestamp(), alert.starts_at.timestamp(), alert.annotations)

    def _suppressed(self, placing: _Placing) -> Placement | None:
        """Stage 3: inhibited by a firing source alert, it is a symptom in the source's incident."""
        inhibitor = self.inhibition.inhibitor(placing.labels, placing.key, self._in_force)
        if inhibitor is None:
            return None
        placing.inhibitor = inhibitor
        return self._symptom(inhibitor, placing.labels)

    def _recurrence(self, placing: _Placing) -> Placement | None:
        """A new episode of an alert whose incident is still open and holds only its own episodes
        belongs there when it flaps back (`_flapped`): a flapping alert never opens one incident
        per flap, but one firing again long after its last episode is another fault's, however
        often it fired within the hour. An incident that holds other alerts too was a cascade,
        whose alerts recur together or not at all: while every one of them flaps (ingest.flapping),
        the cascade flaps as one and each firing goes back to it; otherwise one of them firing
        again is placed by the rule stages, on the evidence that places any alert (in a busy estate
        a re-fire is mostly another fault or noise, and the cascade's incident stays open for
        hours)."""
        fingerprint, starts_at = placing.key
        incident = self.incidents.get(self._by_fingerprint.get(fingerprint, ""))
        if incident is None or not incident.active:
            return None
        flapping = self._flaps.flapping
        if _only_episodes_of(incident, fingerprint):
            recurs = _flapped(incident, starts_at, flapping(fingerprint, starts_at))
        else:  # a cascade, its alert among them
            recurs = all(flapping(member.fingerprint, starts_at) for member in incident.members.values())
        if recurs:
            return incident, Explanation(JoinReason.RECURRENCE, "", detail="the alert fired again while its "
                                                                          "incident was open")
        return None

    def _linked(self, placing: _Placing) -> Placement | None:
        labels, now = placing.labels, placing.now
        for rule in self.rules.links:
            for side, other in (("source", "target"), ("target", "source")):
                value = decisions.link_key(rule, labels, side)
                incident = self._recent(self._by_link.get((rule.name, other, value)), now, rule.window) \
                    if value else None
                if incident is not None:
                    label = rule.source_label if side == "source" else rule.target_label
                    return incident, Explanation(JoinReason.LINK, rule.name, {label: labels[label]},
                                                 f"key {value!r} matches the incident's {other} alerts")
        return None

    def _dependent(self, placing: _Placing) -> Placement | None:
        services, now = placing.services, placing.now
        if not services or not self.rules.dependencies:
            return None
        for rule in self.rules.dependencies:
            for name in services:
                depends_on = self.rules.service(name).depends_on
                for related in [*depends_on, *self.rules.dependents(name)]:
                    incident = self._recent(self._by_service.get(related), now, rule.window)
                    if incident is not None:
                        relation = "depends on" if related in depends_on else "is a dependency of"
                        return incident, Explanation(JoinReason.DEPENDENCY, rule.name, {"service": name},
                                                     f"{name} {relation} {related}")
        return None

    def _grouped(self, placing: _Placing) -> Placement | None:
        """Stage 7: the open incident of its group key, or the one it reopens; without a group
        rule, the incident it flaps back to (`_refired`)."""
        group_key, group_labels, rule = placing.group
        if rule is None:
            return self._refired(placing)
        now = placing.now
        existing = self.incidents.get(self._by_group.get(group_key, ""))
        if existing is not None and existing.active \
                and now - existing.last_alert_at <= timedelta(seconds=rule.window) \
                and now - existing.opened_at <= timedelta(seconds=rule.max_duration):
            return existing, Explanation(JoinReason.GROUP, rule.name, group_labels)
        if existing is not None and existing.group_key == group_key and self._reopenable(existing, now):
            self._reopen(existing, now)
            return existing, Explanation(JoinReason.REOPENED, rule.name, group_labels, "re-fired within the reopen window")
        return None

    def _refired(self, placing: _Placing) -> Placement | None:
        """An alert that fired briefly and re-fires within minutes of its last episode's end (it
        flaps) goes back to the incident only its own earlier episodes made up (reopening it, within
        the reopen window): its cause is the same. An incident that held other alerts too was a
        cascade: a recurrence of one of its alerts is a new incident, which the rest of the
        recurrence joins on the same evidence; so is a re-fire long after, or after a long episode
        (in a busy estate, mostly another fault or noise)."""
        (fingerprint, starts_at), now = placing.key, placing.now
        incident = self.incidents.get(self._by_group.get(placing.group[0], ""))
        if incident is None or not _only_episodes_of(incident, fingerprint):
            return None
        if not _flapped(incident, starts_at):
            return None
        last = max(incident.members.values(), key=lambda m: m.starts_at)
        gap = starts_at - (last.ends_at or starts_at)
        why = Explanation(JoinReason.REFIRED, "", {}, f"the same alert again {gap.total_seconds() / 60:.0f}m after "
                          "its last episode ended: the incident holds only its earlier episodes")
        if incident.active:
            return incident, why
        if self._reopenable(incident, now):
            self._reopen(incident, now)
            return incident, why
        return None

    def _related(self, placing: _Placing) -> Placement | None:
        if self.learner is None:
            return None
        key, now = placing.key, placing.now
        join = self.learner.place(placing.labels, key, now.timestamp(), key[1].timestamp(), self._active_other(key, now),
                                  placing.annotations)
        if join is None:
            self.learned_decisions[LearnedDecision.NEW_INCIDENT] += 1
            return None
        if join.reason is JoinReason.STORM and join.relation is not None:
            effect, storm = self._incident_holding(join.relation.key), self._incident_holding(join.key)
            if effect is not storm and effect not in self._followers(storm, join.relation.absorb):
                join = join.relation  # the effect's incident would not follow the alert into the storm's
        incident = self.incidents[self._episodes[join.key].incident_id]
        if incident.state is IncidentState.RESOLVED:  # the alert started before it resolved
            self._reopen(incident, now)
        decision = LearnedDecision.STORM if join.reason is JoinReason.STORM else LearnedDecision.LEARNED \
            if join.rule == "learned" else LearnedDecision.QUIET if join.rule == "quiet entity" else LearnedDecision.RULE
        self.learned_decisions[decision] += 1
        # The alert's group key follows it, so the rest of its group joins the same incident.
        self._point_group(placing.group[0], incident.id, replace=True)
        if join.reason is JoinReason.STORM and join.absorb:
            self._storm_takes_in(incident, join, now)
        relation = join.relation if join.reason is JoinReason.STORM else join
        if relation is not None and relation.absorb:
            placing.related = relation.absorb, _explanation(relation)
        return incident, _explanation(join)

    def _candidate(self, placing: _Placing) -> Placement | Held | None:
        """Stage 9: below its group rule's `min_alerts` it is held; the alert that reaches it opens
        the incident with every candidate of its group."""
        group_key, group_labels, rule = placing.group
        if rule is None or rule.min_alerts <= 1:
            return None
        now = placing.now
        return self._gathered(Candidate(placing.alert, rule.name, group_key, group_labels, rule.min_alerts, now,
                                        placing.services), rule.window, now) or Held.CANDIDATE

    def _opened(self, placing: _Placing) -> Placement:
        """Stage 10: an incident of its own."""
        group_key, group_labels, group_rule = placing.group
        incident = self._open(group_key, placing.now)
        self._by_group[group_key] = incident.id
        return incident, Explanation(JoinReason.GROUP if group_rule is not None else JoinReason.NEW_INCIDENT,
                                     group_rule.name if group_rule is not None else "", group_labels)

    # The stages in the order they run: each returns its decision, or None to pass the alert on to
    # the next (what each decides: the module docstring). Every alert:
    STAGES = (_dedup, _maintenance, _new_episode)
    # A new episode (`_new_episode`): where it goes. Stage 11 (`_take_in_effects`) follows any placement.
    PLACEMENT = (_suppressed, _recurrence, _linked, _dependent, _grouped, _related, _candidate, _opened)
    # A symptom its source released (engine/inhibition.py): where it goes now, by the rules or alone.
    RELEASED = (_linked, _dependent, _grouped, _related, _opened)

    def _placed_again(self, member: Member, key: tuple[str, datetime], group: tuple, now: datetime) -> Placement:
        """Where a symptom its source released goes: the first of the `RELEASED` stages that decides."""
        placing = _Placing(key, member.labels, member.annotations, member.services, group, now)
        for stage in self.RELEASED:
            if (placed := stage(self, placing)) is not None:
                return placed

    def _recent(self, incident_id: str | None, now: datetime, window: float) -> Incident | None:
        incident = self.incidents.get(incident_id) if incident_id else None
        if incident is not None and incident.active and now - incident.last_alert_at <= timedelta(seconds=window):
            return incident
        return None

    def _group_key(self, labels, fingerprint: str) -> tuple[str, dict[str, str], object]:
        for rule in self.rules.groups:
            if matches_all(rule.matchers, labels):
                values = {name: labels.get(name, "") for name in rule.group_by}
                return f"{rule.name}:" + ",".join(f"{k}={v}" for k, v in values.items()), values, rule
        return f"alert:{fingerprint}", {}, None

    def _take_in_effects(self, incident: Incident, alert: Alert, key: tuple[str, datetime], now: datetime) -> None:
        """Stage 11: a cause placed after its effects takes in the incidents they opened meanwhile,
        where it explains every alert of them (learning/joiner.py `absorbable`)."""
        if self.learner is None:
            return
        found = self.learner.absorbable(alert.labels, key, now.timestamp(), key[1].timestamp(),
                                        self._absorbable_into(incident),
                                        lambda incident_id: self.incidents[incident_id].members, alert.annotations)
        for absorption in found:
            explained = {member: Explanation(JoinReason.ABSORBED, join.rule, join.labels, join.detail)
                         for member, join in absorption.effects.items()}
            rules = ", ".join(sorted({why.rule for why in explained.values()}))
            why = Explanation(JoinReason.ABSORBED, rules, detail=f"every alert of it is an effect of "
                              f"{alert.labels.get('alertname', '')} ({key[0]}), which came after them")
            self._absorb(incident, self.incidents[absorption.incident], now, why, explained)

    def _absorbable_into(self, target: Incident) -> Callable[[tuple[str, datetime]], tuple[str, float] | None]:
        """The incident holding an episode, with its opening time, where `target` may take it in by
        itself: another incident, open, with an alert still firing, that no operator has touched (an
        acknowledged, assigned or merged incident is the operators' to merge). Asked per candidate."""
        episodes, incidents, eligible = self._episodes, self.incidents, {}

        def incident_of(key: tuple[str, datetime]) -> tuple[str, float] | None:
            episode = episodes.get(key)
            incident = incidents.get(episode.incident_id) if episode is not None and episode.incident_id else None
            if incident is None or incident is target:
                return None
            if incident.id not in eligible:
                eligible[incident.id] = incident.firing > 0 and _engine_may_merge(incident)
            return (incident.id, incident.opened_at.timestamp()) if eligible[incident.id] else None
        return incident_of

    def _absorb(self, target: Incident, source: Incident, now: datetime, why: Explanation,
                explained: dict[tuple[str, datetime], Explanation] | None = None) -> None:
        """The engine merges `source` into `target` by itself, on the grounds `why` (on both
        timelines); each member moved is explained anew by `explained` (else by `why`), but a
        symptom, which stays its source's."""
        for key, member in source.members.items():
            if member.why.reason != JoinReason.SYMPTOM:
                member.why = explained[key] if explained is not None else why
        self._touched |= self.merge(target.id, ENGINE, now, source.id, why)

    def _storm_takes_in(self, incident: Incident, join, now: datetime) -> None:
        """A storm's incident takes in the incidents of `join.absorb` (its alerts placed before it
        was recognised, or a storm it turned out to continue) opened since the storm began. In a
        busy cluster only those holding only its name, and only into the storm's own incident,
        holding only its name (a storm that follows its first alert into another incident, related
        to that one alert, does not take the rest of its first alerts there: there, one relation may
        be a coincidence). In a quiet one (`join.bridges`) a relate rule's relation of one of them is
        evidence for them all; closeness or a learned association of one alert is not (a storm of a
        symptom two faults share would take in both)."""
        name, since = join.labels["alertname"], datetime.fromtimestamp(join.since, timezone.utc)

        def bridged(held: Incident, key) -> bool:  # other names too, where a relate rule put the storm's alert
            return join.bridges and not _by_closeness(held.members[key])
        if not (_only_named(incident, name) or bridged(incident, join.key)):
            return
        for key in join.absorb:
            source = self._incident_holding(key)
            if source is not None and source is not incident and source.opened_at >= since \
                    and (_only_named(source, name) or bridged(source, key)) \
                    and _engine_may_merge(source):
                self._absorb(incident, source, now, Explanation(JoinReason.STORM, "storm", {"alertname": name},
                                                                f"storm of {name}: {join.detail}"))

    def _take_in_related(self, incident: Incident, related: tuple[tuple, ...], why: Explanation,
                         now: datetime) -> None:
        """Stage 11 too: an incident every alert of which the new alert relates to (`related`, by the
        evidence that would have joined it there) is one with the alert's."""
        for source in self._followers(incident, related):
            self._absorb(incident, source, now, Explanation(JoinReason.RELATED, why.rule, why.labels,
                                                            f"every alert of it is related to the alert that "
                                                            f"joined this incident: {why.detail}"))

    def _followers(self, incident: Incident, related: tuple[tuple, ...]) -> list[Incident]:
        """The incidents other than `incident` that hold only members of `related`, firing, and
        that the engine may merge by itself."""
        members, found = set(related), []
        for key in related:
            source = self._incident_holding(key)
            if source is not None and source is not incident and source not in found and source.firing > 0 \
                    and _engine_may_merge(source) and members.issuperset(source.members):
                found.append(source)
        return found

    def _incident_holding(self, key: tuple[str, datetime]) -> Incident | None:
        episode = self._episodes.get(key)
        return self.incidents.get(episode.incident_id) if episode is not None and episode.incident_id else None

    def _active_other(self, key: tuple[str, datetime], now: datetime) -> Callable[[tuple[str, datetime]], bool]:
        """Whether a member other than `key` is in an active incident it may join: asked per
        candidate of a learned join, so with what it reads bound once. Not the incident holding
        the alert's earlier episode: the recurrence stage alone sends a new episode back there (it
        flaps, or its whole cascade does). Its relation to what the first occurrence left firing is
        no evidence: with Alertmanager's default timings, the second of two database outages
        minutes apart came before the first one's end was sent, and joined it."""
        episodes, incidents, started, reopenable = self._episodes, self.incidents, key[1], self._reopenable
        placed = episodes.get(key)  # a symptom its source released is no new episode: its incident is its own
        earlier = self._by_fingerprint.get(key[0]) if placed is None or placed.incident_id is None else None

        def active_other(other: tuple[str, datetime]) -> bool:
            if other == key:
                return False
            episode = episodes.get(other)
            incident_id = episode.incident_id if episode is not None else None
            incident = incidents.get(incident_id) if incident_id and incident_id != earlier else None
            if incident is None:
                return False
            if incident.state in ACTIVE_STATES and incident.firing > 0:
                return True
            # An incident whose alerts have all cleared (in its resolve hold, or resolved) is over:
            # a new alert related to it is a new occurrence, not more of it (a flap goes back by
            # stage 4)... unless the alert started before they cleared: Alertmanager held it (a
            # group's new alerts wait up to its group_interval, 5 minutes by default), and it is
            # part of it. A resolved incident reopens for it within the reopen window.
            return (incident.state in ACTIVE_STATES or reopenable(incident, now)) and started < _cleared_at(incident)
        return active_other

    def _reopenable(self, incident: Incident, now: datetime) -> bool:
        """Whether the engine may reopen the incident for an alert of it: resolved within the
        reopen window."""
        return incident.state is IncidentState.RESOLVED and now - incident.resolved_at <= self.settings.reopen_window

    def _reopen(self, incident: Incident, now: datetime) -> None:
        self._transition(incident, IncidentState.OPEN, now, ENGINE, kind=TimelineKind.REOPENED)
        incident.resolved_at = None

    def _open(self, group_key: str, now: datetime) -> Incident:
        self._incident_sequence += 1
        incident = Incident(id=f"INC-{self._incident_sequence:06d}", state=IncidentState.OPEN, title="",
                            opened_at=now, last_alert_at=now, group_key=group_key, placement=self._placed())
        self.incidents[incident.id] = incident
        incident.record(now, TimelineKind.CREATED, group_key=group_key)
        self._touched |= self.problem_tracker.opened(incident, now, self.incidents)
        return incident

    def _placed(self) -> int:
        self._placements += 1
        return self._placements

    def _point_group(self, group_key: str, incident_id: str, replace: bool = False) -> None:
        """The group's next alert goes to `incident_id` (where another incident has the group
        already, only if `replace`), until that incident closes."""
        if self._by_group.get(group_key) == incident_id or (group_key in self._by_group and not replace):
            return
        self._by_group[group_key] = incident_id
        self._index_keys.setdefault(incident_id, []).append((self._by_group, group_key))

    def _register(self, member: Member, key, incident: Incident, as_source: bool = True) -> None:
        labels, services = member.labels, member.services
        facts_keys = self._index_keys.setdefault(incident.id, [])
        self._by_fingerprint[member.fingerprint] = incident.id
        facts_keys.append((self._by_fingerprint, member.fingerprint))
        for rule in self.rules.links:
            for side in ("source", "target"):
                value = decisions.link_key(rule, labels, side)
                if value:
                    self._by_link[(rule.name, side, value)] = incident.id
                    facts_keys.append((self._by_link, (rule.name, side, value)))
        for service in services:
            self._by_service[service] = incident.id
            facts_keys.append((self._by_service, service))
        if as_source:
            self.inhibition.add(key, labels)

    # -- what an incident is: derived incrementally, so a join costs the same however big the incident

    def _derive(self, incident: Incident, member: Member, now: datetime, group_labels: dict[str, str],
                absorbed: bool = False) -> None:
        """`absorbed`: the aggregates hold `member` already (an incident recomputed)."""
        facts = self._facts.get(incident.id)
        if facts is None:  # not `setdefault`: a Facts costs a dozen containers to build
            facts = self._facts[incident.id] = Facts()
        if (conclude if absorbed else derive)(self.rules, incident, facts, member, now, group_labels, self.classifier,
                                              self.settings.low_confidence, self.settings.classification):
            self._schedule_escalation(incident, facts)

    # -- resolution ----------------------------------------------------------------------------

    def _extend(self, key, alert: Alert, episode: _Episode) -> set[str]:
        """A firing snapshot: the episode now ends at its endsAt (the latest snapshot's, as the
        store keeps it), unless it is re-sent again before."""
        ends_at = alert.ends_at
        if ends_at is None or ends_at == episode.ends_at or episode.status is not AlertStatus.FIRING:
            return set()
        if episode.ends_at is None or ends_at < episode.ends_at:  # a later end: the pending timer moves on
            self._add_timer(ends_at, "expire", "", key)
        episode.ends_at = ends_at
        incident = self.incidents.get(episode.incident_id) if episode.incident_id else None
        if incident is None:
            self._resent(key, alert)
            return set()
        incident.members[key].ends_at = ends_at
        incident.changed_members.add(key)
        return {incident.id}

    def _resolve_member(self, key, ends_at: datetime, episode: _Episode, now: datetime,
                        timed_out: bool = False) -> set[str]:
        episode.status, episode.ends_at, episode.timed_out = AlertStatus.RESOLVED, ends_at, timed_out
        incident = self.incidents.get(episode.incident_id) if episode.incident_id else None
        self._forget_source(key)
        if incident is None:
            self._drop_episode(key)
            if key in self._candidate_group:  # a resolved candidate no longer counts
                self._leave_pool(self._candidate_group[key], key)
            return set()
        member = incident.members[key]
        member.status, member.ends_at = AlertStatus.RESOLVED, ends_at
        incident.changed_members.add(key)
        incident.firing -= 1
        incident.record(now, TimelineKind.ALERT_RESOLVED, fingerprint=member.fingerprint,
                        **({"timed_out": True} if timed_out else {}))
        self._changed_state(incident, member.fingerprint, now)
        if not incident.firing and incident.active:
            self._start_hold(incident, now)
        self.inhibition.detach(key)
        return {incident.id} | self._release(key, now)

    def _changed_state(self, incident: Incident, fingerprint: str, now: datetime) -> None:
        """An alert of `incident` fired or resolved: the timeline shows when it starts to flap."""
        if self._flaps.change(fingerprint, now):
            incident.record(now, TimelineKind.FLAPPING, fingerprint=fingerprint, changes=self._flaps.max_changes + 1,
                            window_seconds=self._flaps.window.total_seconds())

    def _forget_source(self, key) -> None:
        self.inhibition.remove(key)

    def _transition(self, incident: Incident, state: IncidentState, now: datetime, actor: str,
                    kind: TimelineKind | None = None, **detail) -> None:
        if state not in TRANSITIONS[incident.state]:
            raise TransitionError(f"{incident.id} is {incident.state}: it cannot become {state}")
        previous, incident.state = incident.state, state
        if state is IncidentState.RESOLVED:
            incident.resolved_at = now
            self._add_timer(now + self.settings.close_after, "close", incident.id)
        elif state is IncidentState.CLOSED:
            incident.closed_at = now
        elif state is IncidentState.ACKNOWLEDGED and incident.acknowledged_at is None:
            incident.acknowledged_at = now
        incident.record(now, kind or TimelineKind(state.value), actor, previous=previous, **detail)
        if state is IncidentState.OPEN:  # reopened: its escalation time counts from now
            self._schedule_escalation(incident, self._facts[incident.id])

    def _forget(self, incident: Incident, now: datetime) -> set[str]:
        """A closed incident leaves the indexes: memory follows open work, not history. Its alerts
        inhibit no more: the symptoms they held in other incidents are released, as when a source
        resolves. Returns the incidents that changed by it."""
        changed: set[str] = set()
        for key in incident.members:
            if self.inhibition.holds_symptoms(key):
                changed |= self._release(key, now)
        for key in incident.members:
            episode = self._episodes.get(key)
            if episode is not None and episode.incident_id == incident.id:
                self._drop_episode(key)
            self.inhibition.forget(key)
        if self._by_group.get(incident.group_key) == incident.id:
            del self._by_group[incident.group_key]
        self._hold_until.pop(incident.id, None)
        for index, key in self._index_keys.pop(incident.id, []):
            if index.get(key) == incident.id:
                del index[key]
        self._facts.pop(incident.id, None)
        return changed

    def _drop_episode(self, key) -> None:
        del self._episodes[key]
        if self._latest_episode.get(key[0]) == key:
            del self._latest_episode[key[0]]

    def _move(self, source: Incident, target: Incident, key, member: Member, now: datetime,
              counted_as: Explanation | None = None) -> None:
        """Move one member between incidents (merge, split); indexes follow it. `counted_as`: the
        explanation `source` counted it with, where it leaves explained anew."""
        del source.members[key]
        source.changed_members.add(key)
        firing = member.status is AlertStatus.FIRING
        source.firing -= firing
        target.members[key] = member
        member.placement, member.moved = self._placed(), True
        target.changed_members.add(key)
        target.firing += firing
        target.last_alert_at = max(target.last_alert_at, member.joined_at)
        episode = self._episodes.get(key)
        if episode is None:
            self._episodes[key] = _Episode(member.status, target.id, member.ends_at)
        elif episode.incident_id == source.id:  # not when a revived episode lives in another incident now
            episode.incident_id = target.id
        self._forget_source(key)
        self._facts[source.id].departed.append((key, member, (counted_as or member.why).reason == JoinReason.SYMPTOM))
        self._register(member, key, target, as_source=firing)
        self._derive(target, member, now, {})

    def _rederive(self, incident: Incident, now: datetime) -> None:
        """Recompute the aggregates of an incident that lost members (after a split, or alerts moved
        out by inhibition): the members that left taken out, or where that cannot tell, every member
        folded in again; then what the incident is derived once; with only resolved alerts left, the
        hold starts."""
        facts = self._facts[incident.id]
        if not withdraw(self.rules, facts, incident.members):
            facts = self._facts[incident.id] = Facts()
            for member in incident.members.values():
                absorb(self.rules, facts, member)
        self._derive(incident, next(reversed(incident.members.values())), now, {}, absorbed=True)
        if not incident.firing and incident.active:
            self._start_hold(incident, now)

    def _force_close(self, incident: Incident, now: datetime, actor: str, reason: str) -> set[str]:
        if incident.state in (IncidentState.OPEN, IncidentState.ACKNOWLEDGED, IncidentState.INVESTIGATING,
                              IncidentState.ESCALATED):
            self._transition(incident, IncidentState.RESOLVED, now, actor, reason=reason)
        self._transition(incident, IncidentState.CLOSED, now, actor, reason=reason)
        self._closed.append(incident.id)
        return self._forget(incident, now)


HOLD_STARTS = frozenset({TimelineKind.ALERT_RESOLVED, TimelineKind.REOPENED, TimelineKind.SPLIT,
                         TimelineKind.ALERT_MOVED})  # what restarts an incident's hold with no alert firing


def _replaced(alert: Alert, latest: tuple[str, datetime]) -> bool:
    """Whether Alertmanager sends `alert` in place of the firing episode `latest` of its
    fingerprint: it keeps the earliest startsAt of the views of one alert it merges (types.Alert
    `Merge`), so a later one is an alert that started after the one it held had ended. It hides
    that end when the alert fires again before the group's next notification."""
    return alert.source == Source.ALERTMANAGER and alert.starts_at > latest[1]


def _cleared_at(incident: Incident) -> datetime:
    """When the last of an incident's alerts, all resolved, ended (their own endsAt)."""
    return max((member.ends_at for member in incident.members.values() if member.ends_at is not None),
               default=incident.last_alert_at)
