"""Small pure decisions of the engine. Each returns its result with the explanation of why."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import lru_cache
from operator import itemgetter
from typing import Callable, Iterable, Mapping
from zoneinfo import ZoneInfo

from correlator.domain import MAX_NAME_LENGTH, DecisionReason, Explanation, Level, Member, Suppression
from correlator.engine.blast import BlastRadius
from correlator.rules.loader import RuleSet
from correlator.rules.matchers import compile_regex, matches_all
from correlator.rules.schema import WEEKDAYS, LinkRule, MaintenanceRule, Service, Window


def _in_window(window: Window, now: datetime) -> bool:
    if not window.recurring:
        return window.start <= now < window.end
    zone = ZoneInfo(window.timezone)
    local = now.astimezone(zone)
    start = time.fromisoformat(window.start_time)
    # A window that began on one of the last few days may still be running (durations over a day).
    for days_back in range(int(window.duration // 86400) + 2):
        day = local.date() - timedelta(days=days_back)
        if WEEKDAYS[day.weekday()] not in window.weekdays:
            continue
        opened = datetime.combine(day, start, tzinfo=zone)
        if opened <= local < opened + timedelta(seconds=window.duration):
            return True
    return False


def maintenance(rules: Iterable[MaintenanceRule], labels: Mapping[str, str], now: datetime) -> Explanation | None:
    """The maintenance window this alert falls into, if any (it is then recorded, not alerted)."""
    for rule in rules:
        if matches_all(rule.matchers, labels) and (not rule.windows or any(_in_window(w, now) for w in rule.windows)):
            return Explanation(Suppression.MAINTENANCE, rule.name, {m.name: labels.get(m.name, "")
                                                                    for m in rule.matchers})
    return None


_compiled = lru_cache(maxsize=256)(compile_regex)  # a link rule's patterns, checked when its file loaded


def link_key(rule: LinkRule, labels: Mapping[str, str], side: str) -> str | None:
    """The key this alert offers on one side of a link rule (None: it is not on that side)."""
    matchers, label, regex = ((rule.source_matchers, rule.source_label, rule.source_regex) if side == "source"
                              else (rule.target_matchers, rule.target_label, rule.target_regex))
    value = labels.get(label, "")
    if not value or not matches_all(matchers, labels):
        return None
    match = _compiled(regex).fullmatch(value)
    return match.group(1) if match and match.group(1) else None


def services_of(catalog: Iterable[Service], labels: Mapping[str, str]) -> tuple[str, ...]:
    """Catalog services this alert belongs to: by the entry's matchers, else by its `service` label."""
    found = []
    for service in catalog:
        if service.matchers:
            if matches_all(service.matchers, labels):
                found.append(service.service)
        elif labels.get("service") == service.service:
            found.append(service.service)
    return tuple(found)


_LEVEL_ORDER = {Level.LOW: 0, Level.MEDIUM: 1, Level.HIGH: 2}


def _grounds(matchers, labels: Mapping[str, str]) -> dict[str, str]:
    return {m.name: labels.get(m.name, "") for m in matchers}


def first_match(rules, labels: Mapping[str, str], accept=lambda rule: True) -> int | None:
    """Index of the first rule whose matchers match (and that `accept`s the alert), if any."""
    for index, rule in enumerate(rules):
        if accept(rule) and matches_all(rule.matchers, labels):
            return index
    return None


def urgency_of(rules: RuleSet, labels: Mapping[str, str]) -> tuple[Level, dict[str, str]]:
    """The urgency of one alert: the first `urgency` entry of the priority rule it matches."""
    for match in rules.priority.urgency:
        if matches_all(match.matchers, labels):
            return match.urgency, _grounds(match.matchers, labels)
    return Level.LOW, {}


def more_urgent(a: Level, b: Level) -> bool:
    return _LEVEL_ORDER[a] > _LEVEL_ORDER[b]


def impact_of(rules: RuleSet, services: Iterable[str], radius: BlastRadius, security: bool = False) -> Level:
    """High when a tier-1 customer-facing service is affected, or many things are (3+ services,
    hosts and probed targets together, 5+ pods); medium when a customer-facing or tier-1/2 service,
    any service, or 2 things are, or users reach what fails (a probed URL in production: customer
    facing, of a tier only the catalog knows); low when one host or target is (redundancy holds).
    One level lower outside production.
    A `security` incident is at least medium: what an intruder reaches is more than what failed."""
    services = list(services)
    known = [rules.service(name) for name in services if rules.service(name) is not None]
    workloads = max(len(services), len(radius.services))
    breadth = workloads + len(radius.hosts) + len(radius.targets)
    if any(s.customer_facing and s.tier == 1 for s in known) or breadth >= 3 or len(radius.pods) >= 5:
        impact = Level.HIGH
    elif any(s.customer_facing or s.tier <= 2 for s in known) or workloads or breadth == 2 or security \
            or (radius.targets and radius.production):
        impact = Level.MEDIUM
    else:
        return Level.LOW
    if radius.outside_production:  # staging, development, test: the business is not affected yet
        return Level.MEDIUM if impact is Level.HIGH else Level.LOW
    return impact


def assignment_of(rules: RuleSet, labels: Mapping[str, str]) -> tuple[int, str, int, Explanation] | None:
    """(rule index, team, tier, why) of the first assign rule this alert gives a team to."""
    for index, rule in enumerate(rules.assignments):
        team = labels.get(rule.team_label, "") if rule.team_label else ""
        # A label is the sender's: cut to what the store holds, rather than fail every save.
        team = (team or rule.team)[:MAX_NAME_LENGTH]
        if team and matches_all(rule.matchers, labels):
            grounds = _grounds(rule.matchers, labels)
            if rule.team_label:
                grounds[rule.team_label] = labels.get(rule.team_label, "")
            return index, team, rule.tier, Explanation(DecisionReason.ASSIGNED, rule.name, grounds)
    return None


def owner_of(rules: RuleSet, services: Iterable[str]) -> tuple[str, Explanation] | None:
    for name in services:
        service = rules.service(name)
        if service is not None and service.owner:
            return service.owner, Explanation(DecisionReason.ASSIGNED, "catalog", {"service": name},
                                              f"owner of service {name}")
    return None


LISTED_NAMES = 3  # the other alert names a title lists


def title(names: Mapping[str, int], alerts: int, one: Member | None, scope: Mapping[str, str],
          cause: str | None = None, subject: Callable[[], str] = str) -> str:
    """`HighCPU: <summary>` for one alert (however many times it fired). For several, the likeliest
    cause (`cause`, engine/roots.py; `subject()`: what it is about, asked only when said) and what
    else fired: `NodeDown on node-7 and 12 more alerts: 9 KubePodNotReady, 3
    KubeDeploymentReplicasMismatch (cluster=prod-eu)`; `12 KubePodNotReady alerts
    (cluster=prod-eu)` where they all have one name. A ticket's summary then says what failed
    first, not which symptom was most numerous."""
    if cause in names:
        lead, about = cause, subject
    else:
        lead, about = max(names, key=lambda name: (names[name], name)), str
    summary = one.annotations.get("summary") if alerts == 1 and one is not None else None
    if summary:
        return f"{lead}: {summary}"
    text = ", ".join(f"{k}={v}" for k, v in scope.items() if v)
    where = f" ({text})" if text else ""
    if len(names) == 1 and alerts > 1:
        return f"{alerts} {lead} alerts{where}"
    said = about()
    on = f" on {said}" if said else ""
    if alerts == 1:
        return f"{lead}{on}"
    # The other alerts per name, the most first (then the first seen); the lead counts one less.
    # Asked at every join: the names are sorted by the C-level key, and only the first few are read.
    first = sorted(names.items(), key=itemgetter(1), reverse=True)[:LISTED_NAMES + 1]
    others = sorted([(name, count - (name == lead)) for name, count in first if count - (name == lead)],
                    key=itemgetter(1), reverse=True)[:LISTED_NAMES]
    listing = ", ".join(f"{count} {name}" for name, count in others)
    unlisted = len(names) - (names[lead] == 1) - len(others)
    if unlisted > 0:
        listing += f" and {unlisted} more name{'s' if unlisted > 1 else ''}"
    return f"{lead}{on} and {alerts - 1} more alert{'s' if alerts > 2 else ''}: {listing}{where}"
