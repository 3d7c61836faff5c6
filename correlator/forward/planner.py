"""The outbox rows of an engine step, written in the step's own transaction (IncidentRepository.save
calls `plan`): so a crash keeps both the change and its deliveries, or neither.

Each saved incident's changes (forward/changes.py) go to the destinations already routed for it and
to those whose route matches it now. A change made by a destination itself (an inbound change,
whose actor is the destination's name) is not sent back to it."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy.engine import Connection

from correlator.domain import Incident, IncidentState, TimelineEvent
from correlator.forward.changes import Facts, changes_of
from correlator.forward.routing import Route, routed
from correlator.store.outbox import PlannedRow, routed_pairs, write_planned


class ForwardPlanner:
    def __init__(self, routes: tuple[Route, ...], external_url: str = "", on_planned=lambda: None):
        """`on_planned`: called after a save that wrote rows (in the saving thread): wakes the worker."""
        self.routes = routes
        self._external_url = external_url.rstrip("/")
        self._facts: dict[str, Facts] = {}
        self._pending_facts: dict[str, Facts | None] = {}
        self.on_planned = on_planned

    def remember(self, incidents: list[Incident]) -> None:
        """Incidents loaded from the store: what their next save compares with."""
        for incident in incidents:
            self._facts[incident.id] = Facts.of(incident)

    def url(self, incident_id: str) -> str:
        return f"{self._external_url}/api/v1/incidents/{incident_id}" if self._external_url else ""

    def plan(self, connection: Connection, saved: list[tuple[Incident, list[TimelineEvent]]], now: datetime) -> int:
        """Write the outbox rows of `saved` on `connection` (inside the save's transaction); returns
        how many. The facts remembered advance only with `committed`."""
        self._pending_facts = {incident.id: (None if incident.state is IncidentState.CLOSED else Facts.of(incident))
                               for incident, _ in saved}  # None: closed, nothing more will change
        if not self.routes:
            return 0
        planned: list[tuple[Incident, list]] = []
        for incident, events in saved:
            changes = changes_of(incident, events, self._facts.get(incident.id), self.url(incident.id))
            if changes:
                planned.append((incident, changes))
        if not planned:
            return 0
        known: dict[str, set[str]] = defaultdict(set)
        for incident_id, destination in routed_pairs(connection, [incident.id for incident, _ in planned]):
            known[incident_id].add(destination)
        rows, new_pairs = [], set()
        for incident, changes in planned:
            for destination in sorted(known[incident.id] | set(routed(self.routes, incident))):
                if destination not in known[incident.id]:
                    new_pairs.add((incident.id, destination))
                rows += [PlannedRow(incident.id, destination, change) for change in changes
                         if change.actor != destination]
        write_planned(connection, rows, new_pairs, now)
        return len(rows)

    def committed(self, planned_rows: int) -> None:
        """The save's transaction committed."""
        for incident_id, facts in self._pending_facts.items():
            if facts is None:
                self._facts.pop(incident_id, None)
            else:
                self._facts[incident_id] = facts
        self._pending_facts = {}
        if planned_rows:
            self.on_planned()
