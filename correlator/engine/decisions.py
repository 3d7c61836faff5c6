"""Small pure decisions of the engine. Each returns its result with the explanation of why."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Iterable, Mapping
from zoneinfo import ZoneInfo

from correlator.engine.model import Explanation, Member, Suppression
from correlator.rules.loader import RuleSet
from correlator.rules.matchers import matches_all
from correlator.rules.schema import (WEEKDAYS, AssignRule, Category, Level, LinkRule, MaintenanceRule,
                                     Priority, Service, ServiceArea, Window)


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


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)


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


def classify(rules: RuleSet, members: Iterable[Member]) -> tuple[Category | None, ServiceArea | None,
                                                                     Explanation | None]:
    """Category and service area from the first classify rules that match a member alert."""
    category = area = None
    grounds: list[str] = []
    members = list(members)
    for rule in rules.classifiers:
        member = next((m for m in members if matches_all(rule.matchers, m.labels)), None)
        if member is None:
            continue
        if category is None and rule.category is not None:
            category = rule.category
            grounds.append(rule.name)
        if area is None and rule.service_area is not None:
            area = rule.service_area
            if rule.name not in grounds:
                grounds.append(rule.name)
        if category is not None and area is not None:
            break
    if not grounds:
        return None, None, None
    return category, area, Explanation("classified", ", ".join(grounds), detail=f"category={category}, "
                                                                               f"service_area={area}")


_LEVEL_ORDER = {Level.LOW: 0, Level.MEDIUM: 1, Level.HIGH: 2}


def prioritise(rules: RuleSet, members: Iterable[Member], services: tuple[str, ...]) -> tuple[
        Priority, Level, Level, Explanation]:
    """ITIL priority = matrix[impact][urgency]. Urgency: the highest urgency of the member alerts.
    Impact: high when a tier-1 customer-facing service or 3+ services are affected; medium when a
    customer-facing or tier-1/2 service or 2 services are; low otherwise."""
    urgency, urgent_labels = Level.LOW, {}
    for member in members:
        for match in rules.priority.urgency:
            if matches_all(match.matchers, member.labels):
                if _LEVEL_ORDER[match.urgency] > _LEVEL_ORDER[urgency]:
                    urgency = match.urgency
                    urgent_labels = {m.name: member.labels.get(m.name, "") for m in match.matchers}
                break
    catalog = {service.service: service for service in rules.catalog}
    known = [catalog[name] for name in services if name in catalog]
    if any(s.customer_facing and s.tier == 1 for s in known) or len(services) >= 3:
        impact = Level.HIGH
    elif any(s.customer_facing or s.tier <= 2 for s in known) or len(services) == 2:
        impact = Level.MEDIUM
    else:
        impact = Level.LOW
    priority = rules.priority.matrix[impact][urgency]
    return priority, impact, urgency, Explanation(
        "prioritised", rules.priority.name, urgent_labels,
        f"impact {impact} (services: {', '.join(services) or 'none'}) x urgency {urgency} = {priority}")


def assign(rules: RuleSet, members: Iterable[Member], services: tuple[str, ...]) -> tuple[str, int,
                                                                                          Explanation | None]:
    """Team and tier: the first assign rule matching a member, else the owner of an affected service."""
    members = list(members)
    for rule in rules.assignments:
        member = next((m for m in members if matches_all(rule.matchers, m.labels)
                       and (rule.team or m.labels.get(rule.team_label))), None)
        if member is not None:
            team = member.labels.get(rule.team_label) or rule.team
            grounds = {m.name: member.labels.get(m.name, "") for m in rule.matchers}
            if rule.team_label:
                grounds[rule.team_label] = member.labels.get(rule.team_label, "")
            return team, rule.tier, Explanation("assigned", rule.name, grounds)
    catalog = {service.service: service for service in rules.catalog}
    for name in services:
        if name in catalog and catalog[name].owner:
            return catalog[name].owner, 1, Explanation("assigned", "catalog", {"service": name},
                                                       f"owner of service {name}")
    return "", 1, None


def escalation_delay(rules: RuleSet, members: Iterable[Member], priority: Priority) -> tuple[float, str, str] | None:
    """(seconds, rule name, team to escalate to) of the first escalate rule that applies, if any."""
    members = list(members)
    for rule in rules.escalations:
        if priority in rule.after and any(matches_all(rule.matchers, m.labels) for m in members):
            return rule.after[priority], rule.name, rule.to_team
    return None


def title(members: Iterable[Member], group_labels: Mapping[str, str]) -> str:
    """`HighCPU on node1:9100` for one alert; `HighCPU and 2 more (cluster=prod-eu)` for several."""
    members = list(members)
    names: dict[str, int] = {}
    for member in members:
        name = member.labels.get("alertname", "alert")
        names[name] = names.get(name, 0) + 1
    top = max(names, key=lambda name: (names[name], name))
    if len(members) == 1:
        member = members[0]
        summary = member.annotations.get("summary")
        if summary:
            return f"{top}: {summary}"
        where = member.labels.get("instance") or member.labels.get("pod") or member.labels.get("service")
        return f"{top} on {where}" if where else top
    scope = ", ".join(f"{k}={v}" for k, v in group_labels.items() if v)
    return f"{top} and {len(members) - 1} more alert{'s' if len(members) > 2 else ''}" + (f" ({scope})" if scope else "")
