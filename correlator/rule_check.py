"""`POST /api/v1/rules/check`: a rule file as it would be saved, checked before it is. It must load
beside the files in force (the loader's own errors, with file and line), and it is run, with the
rules in force, over recent stored alerts by the engine alone (no model, no learning, so only rules
decide): the answer shows what its rules would have done, incident by incident, as `rules test`
shows a test's incidents."""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import msgspec

from correlator import wiring
from correlator.config import Config
from correlator.domain import Alert, AlertStatus
from correlator.engine.core import Engine
from correlator.rules.loader import RuleErrors, parse_rule_file
from correlator.rules.matchers import MatcherSyntax
from correlator.store.alert_queries import StoredAlert
from correlator.units import rfc3339

FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}\.ya?ml")


class RuleFileName(ValueError):
    pass


def _events(episodes: list[StoredAlert]) -> list[tuple]:
    """Each episode firing when first seen, and resolved when it ended, in time order."""
    events = []
    for episode in episodes:
        firing = Alert(episode.fingerprint, episode.labels, episode.annotations, AlertStatus.FIRING,
                       episode.starts_at, None, episode.generator_url, episode.source, episode.first_seen)
        events.append((episode.first_seen, firing))
        if episode.status is AlertStatus.RESOLVED and episode.ends_at is not None:
            ended = max(episode.ends_at, episode.first_seen)
            events.append((ended, msgspec.structs.replace(firing, status=AlertStatus.RESOLVED, ends_at=episode.ends_at,
                                          received_at=ended)))
    return sorted(events, key=lambda event: event[0])


def _decisions(incident, names: set[str]) -> list[str]:
    """What the checked rules decided in this incident."""
    found = [f"{m.why.rule} placed {m.labels.get('alertname', '')} {m.fingerprint} ({m.why.reason})"
             for m in incident.members.values() if m.why.rule in names]
    for what, why in (("classified", incident.classification), ("prioritised", incident.prioritisation),
                      ("assigned", incident.assignment)):
        if why is not None and why.rule in names:
            found.append(f"{why.rule} {what} it: {why.detail or why.reason}")
    return found


def check_rule_file(config: Config, name: str, content: str, episodes: list[StoredAlert]) -> dict:
    """`name` replaces the file of that name in the rules directory, or joins it. Raises
    RuleFileName for a name that is not a plain `*.yaml` file name."""
    if not FILE_NAME.fullmatch(name):
        raise RuleFileName("expected a file name such as team-rules.yaml (letters, digits, . _ -)")
    syntax = MatcherSyntax(config.rules.matcher_parser)
    try:
        own = parse_rule_file(content, name, syntax)
        with tempfile.TemporaryDirectory(prefix="correlator-rule-check-") as directory:
            for path in [*config.rules_dir.glob("*.yaml"), *config.rules_dir.glob("*.yml")]:
                if path.name != name:
                    shutil.copyfile(path, Path(directory) / path.name)
            (Path(directory) / name).write_text(content)
            rules = wiring.load_rules(config, Path(directory))
    except RuleErrors as failure:
        return {"valid": False, "errors": [{"path": f"{Path(e.file).name}:{e.line}", "reason": e.message}
                                           for e in failure.errors]}
    names = {rule.name for rule in own.rules}
    engine = Engine(rules, replace(wiring.engine_settings(config), learning=False), model=None)
    events = _events(episodes)
    for at, alert in events:
        engine.process(alert, at)
    if events:
        engine.advance(events[-1][0])
    incidents = []
    for incident in sorted(engine.incidents.values(), key=lambda i: i.opened_at):
        decisions = _decisions(incident, names)
        if decisions:
            incidents.append({"title": incident.title, "state": incident.state.value,
                              "priority": incident.priority, "category": incident.category,
                              "team": incident.team, "opened_at": rfc3339(incident.opened_at),
                              "alerts": len(incident.members), "decisions": decisions})
    return {"valid": True, "errors": [], "rules": sorted(names), "alerts_checked": len(episodes),
            "incidents": incidents}
