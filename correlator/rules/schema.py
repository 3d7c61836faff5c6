"""The rule file schema: what an SRE writes in `rules/*.yaml`.

    version: 1
    catalog:   [service entries]        # optional service catalog
    rules:     [rules, each with a name and a kind]

Kinds: group, link, relate, dependency, suppress, maintenance, classify, priority, assign, escalate
(reference: docs/rules.md).
Matchers are Alertmanager's: a list of `name op value` strings or one `{a="1", b=~"x|y"}` string.
Durations are Prometheus durations (`30s`, `5m`, `4h`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Union

import msgspec

from correlator.domain import Category, Level, Priority, ServiceArea
from correlator.rules.matchers import parse_matchers
from correlator.units import Seconds

SCHEMA_VERSION = 1


class Matchers(list):
    """Parsed matchers, ANDed; from a YAML list of matcher strings or one `{...}` string."""


class _Rule(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True, tag_field="kind"):
    name: str
    description: str = ""


class GroupRule(_Rule, tag="group", kw_only=True):
    matchers: Matchers = Matchers()
    group_by: list[str]
    window: Seconds = Seconds(1800)
    max_duration: Seconds = Seconds(86400)
    # An incident opens only once this many alerts of one group fire within `window`; until then
    # they are candidates (Keep's alert threshold).
    min_alerts: int = 1


class LinkRule(_Rule, tag="link", kw_only=True):
    """Relates alerts whose label schemas differ: the key extracted from `source_label` of a source
    alert equals the one from `target_label` of a target alert (regex capture group 1, anchored)."""

    source_matchers: Matchers = Matchers()
    source_label: str
    source_regex: str = "(.*)"
    target_matchers: Matchers = Matchers()
    target_label: str
    target_regex: str = "(.*)"
    window: Seconds = Seconds(1800)


class RelateRule(_Rule, tag="relate", kw_only=True):
    """Prior knowledge of causes for the learned joining stage: an alert matching `effect` and one
    matching `cause` (either may come first) are related when they name the same or a neighbouring
    entity (`scope: entity`) or sit in the same cluster (`scope: cluster`), within `window`. A
    neighbour is where a thing runs (a pod's node, a service's machine); what a service was seen to
    depend on (the database its alerts name as their upstream) only with `through_dependencies`.
    The estate's own co-occurrence evidence needs no rule; `forbid: true` keeps the two apart
    whatever was learned (rules such as group and link still apply)."""

    cause: Matchers = Matchers()
    effect: Matchers = Matchers()
    scope: Literal["entity", "cluster"] = "entity"
    window: Seconds = Seconds(1800)
    forbid: bool = False
    through_dependencies: bool = False


class DependencyRule(_Rule, tag="dependency", kw_only=True):
    """Joins an alert to an open incident of a service it depends on, or that depends on it
    (the catalog's depends_on), so a database outage and the API errors above it are one incident."""

    matchers: Matchers = Matchers()
    window: Seconds = Seconds(900)


class SuppressRule(_Rule, tag="suppress", kw_only=True):
    source_matchers: Matchers
    target_matchers: Matchers
    equal: list[str] = []


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Window(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """One-off (`start`, `end`) or recurring (`weekdays`, `start_time` HH:MM, `duration`, `timezone`)."""

    start: datetime | None = None
    end: datetime | None = None
    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = []
    start_time: str = ""
    duration: Seconds = Seconds(0)
    timezone: str = "UTC"

    @property
    def recurring(self) -> bool:
        return bool(self.weekdays)


class MaintenanceRule(_Rule, tag="maintenance", kw_only=True):
    """Matching alerts are recorded but open no incident while a window is on; with no windows,
    always (heartbeats such as kube-prometheus's Watchdog)."""

    matchers: Matchers = Matchers()
    windows: list[Window] = []


class ClassifyRule(_Rule, tag="classify", kw_only=True):
    matchers: Matchers = Matchers()
    category: Category | None = None
    service_area: ServiceArea | None = None


class UrgencyMatch(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    matchers: Matchers
    urgency: Level


# Urgency from the severity vocabularies alerts arrive with: Prometheus rule sets and PagerDuty
# (critical, page, error, warning, info), Datadog's alert_type, Zabbix (disaster, high, average, warning, information;
# numeric 5-0), Azure Monitor (Sev0-Sev4), Opsgenie, Datadog monitors and incident tools (P1-P5), syslog
# names, and the SRE convention of alerts that page or open a ticket (a ticket is a warning: act within
# the day). A priority or urgency label is the sender's own ranking of the alert and is read first: a
# Datadog monitor's P5 whose alert_type is "warning" (the threshold it crossed) is low. An alert that
# names no severity at all is assumed medium: never silently low.
_SEVERITY = {Level.HIGH: "crit|critical|page|paging|emerg|emergency|alert|disaster|high|fatal|urgent|blocker"
                         "|sev[-_ ]?[01]|p[12]|[45]",
             Level.MEDIUM: "warn|warning|ticket|error|err|major|average|medium|moderate|sev[-_ ]?[23]|p3|[23]"}
_PRIORITY = {Level.HIGH: "p?[012]|critical|urgent|high", Level.MEDIUM: "p?3|medium|moderate|normal",
             Level.LOW: "p?[45]|low|lowest|minor|info|informational"}
SEVERITY_LABELS, PRIORITY_LABELS = ("severity", "level", "alert_severity", "alert_type"), ("priority", "urgency")


def _urgency_entries() -> tuple[tuple[str, Level], ...]:
    entries = [(f'{label}=~"(?i:{_PRIORITY[level]})"', level)
               for level in (Level.HIGH, Level.MEDIUM, Level.LOW) for label in PRIORITY_LABELS]
    for level in (Level.HIGH, Level.MEDIUM):
        entries += [(f'{label}=~"(?i:{_SEVERITY[level]})"', level) for label in SEVERITY_LABELS]
    unnamed = ", ".join(f'{label}=""' for label in SEVERITY_LABELS + PRIORITY_LABELS)
    return tuple(entries + [(unnamed, Level.MEDIUM)])


DEFAULT_URGENCY = _urgency_entries()


def _default_urgency() -> list[UrgencyMatch]:
    return [UrgencyMatch(Matchers(parse_matchers(matchers)), level) for matchers, level in DEFAULT_URGENCY]


def _default_matrix() -> dict[Level, dict[Level, Priority]]:
    P = Priority
    return {Level.HIGH: {Level.HIGH: P.P1, Level.MEDIUM: P.P2, Level.LOW: P.P3},
            Level.MEDIUM: {Level.HIGH: P.P2, Level.MEDIUM: P.P3, Level.LOW: P.P4},
            Level.LOW: {Level.HIGH: P.P3, Level.MEDIUM: P.P4, Level.LOW: P.P5}}


class PriorityRule(_Rule, tag="priority", kw_only=True):
    """ITIL impact x urgency. Urgency: the first `urgency` entry any member alert matches (default:
    from `severity`). Impact: from the affected services in the catalog (docs/rules.md)."""

    urgency: list[UrgencyMatch] = msgspec.field(default_factory=_default_urgency)
    matrix: dict[Level, dict[Level, Priority]] = msgspec.field(default_factory=_default_matrix)


class AssignRule(_Rule, tag="assign", kw_only=True):
    """Assigns to `team`, or to the value of the member alert's `team_label` when it has one."""

    matchers: Matchers = Matchers()
    team: str = ""
    team_label: str = ""
    tier: int = 1


class EscalateRule(_Rule, tag="escalate", kw_only=True):
    """Escalates an incident not acknowledged within `after[priority]`: to `to_team` if set, else to
    the next support tier."""

    matchers: Matchers = Matchers()
    after: dict[Priority, Seconds]
    to_team: str = ""


Rule = Union[GroupRule, LinkRule, RelateRule, DependencyRule, SuppressRule, MaintenanceRule, ClassifyRule, PriorityRule,
             AssignRule, EscalateRule]


class Service(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    service: str
    matchers: Matchers = Matchers()  # default: service="<service>"
    tier: int = 3
    owner: str = ""
    depends_on: list[str] = []
    customer_facing: bool = False


class RuleFile(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    version: int
    catalog: list[Service] = []
    rules: list[Rule] = []
