"""Problem detection: incidents that restore service again and again share a cause. When incidents
with the same signature (group key) open `recurrences` times within `period`, a problem record
links them (ITIL: the incident restores service, the problem removes the root cause). A problem
whose signature opens no incident for `period` goes inactive and leaves memory (the store keeps
it): the engine holds the problems that still recur, not every one since it started, and a
signature that recurs after such a quiet opens a new problem record."""

from __future__ import annotations

from datetime import datetime, timedelta

from correlator.domain import Incident, Problem, ProblemState, TimelineKind
from correlator.engine.expiry import Expiry

SWEEP_EVERY = 1000  # openings between sweeps of signatures that stopped recurring


class ProblemTracker:
    def __init__(self, recurrences: int, period: timedelta):
        self.recurrences, self.period = recurrences, period
        self.problems: dict[str, Problem] = {}
        self.changed: set[str] = set()
        self.sequence = 0
        # A list, not a deque: most signatures open once, and an empty deque alone takes ~600 bytes.
        self._openings: dict[str, list[tuple[datetime, str]]] = {}
        self._open_by_signature: dict[str, Problem] = {}
        self._since_sweep = 0
        self._expiry = Expiry()  # the signatures by their latest opening
        self._inactive: list[str] = []  # problems gone inactive, to leave memory once saved

    def restore(self, problems: list[Problem], openings: list[tuple[datetime, str, str]], sequence: int) -> None:
        self.sequence = sequence
        self.problems = {problem.id: problem for problem in problems}
        self._open_by_signature = {p.signature: p for p in problems if p.state is ProblemState.OPEN}
        for problem in self._open_by_signature.values():  # one whose openings are all older goes inactive
            self._expiry.touched(problem.signature, problem.last_seen)
        for opened, signature, incident_id in openings:
            self._openings.setdefault(signature, []).append((opened, incident_id))
            self._expiry.touched(signature, opened)

    def opened(self, incident: Incident, now: datetime, incidents: dict[str, Incident]) -> set[str]:
        """Note a new incident; returns the ids of incidents it linked to a problem."""
        self._sweep(now)
        seen = self._openings.setdefault(incident.group_key, [])
        seen.append((now, incident.id))
        self._expiry.touched(incident.group_key, now)
        # The opening just added is always within the period: `next` finds one.
        expired = next(i for i, (opened, _) in enumerate(seen) if now - opened <= self.period)
        del seen[:expired]
        if len(seen) < self.recurrences:
            return set()
        problem = self._open_by_signature.get(incident.group_key)
        if problem is None:
            self.sequence += 1
            problem = Problem(f"PRB-{self.sequence:06d}", incident.group_key, now, now)
            self.problems[problem.id] = problem
            self._open_by_signature[problem.signature] = problem
        problem.last_seen = now
        self.changed.add(problem.id)
        linked_ids = set()
        for _, incident_id in seen:
            if incident_id in problem.incident_ids:
                continue
            problem.incident_ids.append(incident_id)
            linked = incidents.get(incident_id)
            if linked is not None and linked.problem_id is None:
                linked.problem_id = problem.id
                linked.record(now, TimelineKind.PROBLEM_LINKED, problem=problem.id, signature=problem.signature)
                linked_ids.add(linked.id)
        return linked_ids

    def _sweep(self, now: datetime) -> None:
        self._since_sweep += 1
        if self._since_sweep < SWEEP_EVERY:
            return
        self._since_sweep = 0
        horizon, openings = now - self.period, self._openings
        for signature in list(self._expiry.before(horizon)):
            seen = openings.get(signature)
            if seen is None or seen[-1][0] < horizon:  # its latest opening is outside the period
                openings.pop(signature, None)
                problem = self._open_by_signature.pop(signature, None)
                if problem is not None:
                    problem.state = ProblemState.INACTIVE
                    self.changed.add(problem.id)
                    self._inactive.append(problem.id)

    def release_inactive(self) -> None:
        """Drop the problems gone inactive from memory (after the caller saved them)."""
        for problem_id in self._inactive:
            self.problems.pop(problem_id, None)
        self._inactive.clear()
