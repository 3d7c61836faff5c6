"""How the engine describes each alerting rule of Prometheus rule files when it fires alone:
category, service area and priority, and what decided them (a classify rule, the lexicon's words,
or the model when neither says anything); and the relate rules it is a cause or an effect in (an
alert in none joins others only on what the engine learns of the estate, or in a storm). An SRE
runs it on the rule sets the estate runs, before the alerts fire, and pins a classify rule wherever
the reading is wrong or only the model's guess, or a relate rule where a cause it knows is missing.

Reads Prometheus rule files (`groups:`) and Prometheus Operator PrometheusRule manifests
(`spec.groups`), several YAML documents per file included, and directories of them. An alert is its rule's static labels
and annotations; the Go templates in them (`{{ $labels.instance }}`) are left out, as the values
they expand to say where, not what.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import msgspec
import yaml

from correlator.domain import Alert, AlertStatus
from correlator.engine.core import Engine
from correlator.ingest.fingerprint import fingerprint
from correlator.rules.matchers import matches_all, names_alerts

_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_CATEGORY_SOURCE = re.compile(r"^category=\S+ \((rule [^,]+|lexicon|model)")  # the classification's detail
_AT = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)  # a Monday noon: no maintenance window by chance


class RuleFileError(Exception):
    def __init__(self, path: Path, reason: str, no_alerting_rule: bool = False):
        super().__init__(f"{path}: {reason}")
        self.no_alerting_rule = no_alerting_rule


class Reading(msgspec.Struct):
    """One alerting rule as the engine describes it when it fires alone."""

    file: str
    group: str
    alert: str
    incident: bool  # False: alone it opens none (a maintenance rule, or a group rule waiting for more)
    category: str | None = None
    service_area: str | None = None
    priority: str | None = None
    decided_by: str = ""  # what decided the category: "rule NAME" (a classify rule), "lexicon" or "model"
    detail: str = ""
    cause_in: tuple[str, ...] = ()  # the relate rules whose cause it matches...
    effect_in: tuple[str, ...] = ()  # ...and those whose effect it matches (not those that take any alert)


@dataclass(frozen=True)
class AlertingRule:
    file: str
    group: str
    labels: dict[str, str]
    annotations: dict[str, str]


def alerting_rules_in(paths: list[Path]) -> list[AlertingRule]:
    """The alerting rules of rule files, and of the `*.yml` and `*.yaml` files of directories (those
    of a directory holding none, recording rules only, are passed over). Raises RuleFileError."""
    found = []
    for path in paths:
        if not path.is_dir():
            found += alerting_rules(path)
            continue
        for file in sorted([*path.glob("*.yml"), *path.glob("*.yaml")]):
            try:
                found += alerting_rules(file)
            except RuleFileError as error:
                if not error.no_alerting_rule:
                    raise
    return found


def alerting_rules(path: Path) -> Iterator[AlertingRule]:
    """The alerting rules of one rule file or PrometheusRule manifest. Raises RuleFileError."""
    try:
        documents = list(yaml.safe_load_all(path.read_text()))
    except (OSError, yaml.YAMLError) as error:
        raise RuleFileError(path, str(error)) from None
    found = False
    for document in documents:
        if not isinstance(document, dict):
            continue
        spec = document.get("spec")
        groups = document.get("groups", spec.get("groups") if isinstance(spec, dict) else None)
        for group in groups if isinstance(groups, list) else ():
            for rule in (group.get("rules") or ()) if isinstance(group, dict) else ():
                if isinstance(rule, dict) and rule.get("alert"):
                    found = True
                    yield AlertingRule(str(path), str(group.get("name", "")),
                                       {**_plain(rule.get("labels")), "alertname": str(rule["alert"])},
                                       _plain(rule.get("annotations")))
    if not found:
        raise RuleFileError(path, "no alerting rule (a `groups:` list whose rules have `alert:`)", True)


def _plain(values) -> dict[str, str]:
    """Labels or annotations without their templates; those left empty are dropped."""
    if not isinstance(values, dict):
        return {}
    plain = {str(k): " ".join(_TEMPLATE.sub(" ", str(v)).split()) for k, v in values.items()}
    return {k: v for k, v in plain.items() if v}


def read_alone(rule: AlertingRule, new_engine: Callable[[], Engine]) -> Reading:
    """The incident the rule's alert opens in an engine of its own (nothing else to relate to)."""
    engine = new_engine()
    alert = Alert(fingerprint(rule.labels), rule.labels, rule.annotations, AlertStatus.FIRING, _AT, None, "",
                  "rules", _AT)
    engine.process(alert, _AT)
    incident = next(iter(engine.incidents.values()), None)
    name = rule.labels["alertname"]
    relations = [relation for relation in engine.rules.relations if not relation.forbid]
    cause_in = tuple(r.name for r in relations if matches_all(r.cause, rule.labels))
    effect_in = tuple(r.name for r in relations
                      if names_alerts(r.effect) and matches_all(r.effect, rule.labels))
    if incident is None:
        return Reading(rule.file, rule.group, name, False, cause_in=cause_in, effect_in=effect_in)
    detail = incident.classification.detail if incident.classification else ""
    decided = _CATEGORY_SOURCE.search(detail)
    return Reading(rule.file, rule.group, name, True, incident.category, incident.service_area,
                   incident.priority, decided.group(1) if decided else "", detail, cause_in, effect_in)


def relate_rules(reading: Reading) -> str:
    """The relate rules the alert is in, as the text output says them."""
    parts = ([f"cause in {', '.join(reading.cause_in)}"] if reading.cause_in else []) + \
        ([f"effect in {', '.join(reading.effect_in)}"] if reading.effect_in else [])
    return f"relate rules: {'; '.join(parts)}" if parts else "in no relate rule"


def summary(readings: list[Reading]) -> str:
    opened = [r for r in readings if r.incident]
    by_source = Counter(r.decided_by for r in opened)
    by_category = Counter(r.category for r in opened)
    rules = f"{len(readings)} alerting rule{'s' if len(readings) != 1 else ''}"
    unrelated = sum(1 for r in readings if not r.cause_in and not r.effect_in)
    return (f"{rules}: {len(readings) - len(opened)} open no incident; decided by {_counts(by_source)}; "
            f"categories {_counts(by_category)}; {unrelated} in no relate rule")


def _counts(counter: Counter) -> str:
    return ", ".join(f"{key or 'none'} {count}" for key, count in counter.most_common())
