"""`correlator learned`: inspect what the engine learned of the estate, warm-start it from a
recording of the estate's own history, and turn learned associations into relate rules to pin or
forbid (wiring, as in cli.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from correlator.units import number_in

VIEWS = ("topology", "associations", "rules")


def add_commands(commands, config_flag, db_flag) -> None:
    learned = commands.add_parser(
        "learned", help="inspect, warm-start and export what the engine learned of the estate",
        description="What the engine learned online: the topology from alert labels and the alert names that "
                    "start together more often than chance. Read from the store (the last saved snapshot), or "
                    "learned afresh from a recording with --recording.")
    actions = learned.add_subparsers(dest="learned_command", required=True, metavar="ACTION")
    for name, text in (("topology", "entities and the entities they are related to, most seen first"),
                       ("associations", "alert-name pairs associated on related entities, most significant first"),
                       ("rules", "the associations as relate rules (YAML) to review, pin, or forbid with --forbid")):
        action = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        action.add_argument("--recording", type=Path, metavar="FILE.jsonl",
                            help="learn from this recording (the estate's own history) instead of the store")
        action.add_argument("--skip-bad", action="store_true",
                            help="report the recording's bad lines and go on (default: stop)")
        action.add_argument("--limit", type=number_in(int, 1), default=50, help="at most this many (default 50)")
        action.add_argument("--filter", default="", metavar="TEXT",
                            help="only entities whose value contains TEXT (topology) or pairs holding this alert name")
        if name == "rules":
            action.add_argument("--forbid", action="store_true", help="write forbid rules (keep the pairs apart)")
        config_flag(action)
        db_flag(action)
    warm = actions.add_parser(
        "warm-start", help="learn from a recording and save the learned state in the store",
        description="Replay a recording of the estate's own history through the engine and save what it "
                    "learned in the store, so that `serve` starts from it. Incidents are not saved.")
    warm.add_argument("recording", type=Path, metavar="FILE.jsonl")
    warm.add_argument("--skip-bad", action="store_true", help="report bad lines and go on (default: stop)")
    config_flag(warm)
    db_flag(warm)


def run(args: argparse.Namespace, load, rules_and_model) -> int:
    from correlator.learning import state

    config, _ = load(args)
    if args.learned_command == "warm-start" or getattr(args, "recording", None):
        learner = _learn_from(args.recording, args.skip_bad, config, rules_and_model)
        if learner is None:
            return 1
        if args.learned_command == "warm-start":
            return _save(learner, config)
    else:
        learner = state.loaded(_stored(config))
    if args.learned_command == "topology":
        found = state.topology_view(learner, args.limit, args.filter)
        _print_json(found)
    else:
        found = state.associations_view(learner, args.limit, args.filter)
        if args.learned_command == "associations":
            _print_json(found)
        else:
            sys.stdout.write(relate_rules(found, args.forbid))
    if not found:
        print(f"correlator: {_none_found(learner, args)}", file=sys.stderr)
    print(f"learned state: {json.dumps(state.size(learner))}", file=sys.stderr)
    return 0


def _none_found(learner, args: argparse.Namespace) -> str:
    """Why a view is empty, and what would fill it: an empty answer alone reads as a fault."""
    from correlator.learning.cooccurrence import MAX_P_VALUE, MIN_LIFT, MIN_TOGETHER

    if learner.last_at is None:
        if args.recording:
            return f"nothing learned: {args.recording} holds no alert"
        return ("nothing learned yet: the store holds no learned state. `serve` saves what it learns as it runs "
                "(learning.save_every); `correlator learned warm-start FILE.jsonl` learns from a recording of the "
                "estate's own history")
    if args.filter:
        what = "entity's value contains" if args.learned_command == "topology" else \
            "associated pair holds the alert name"
        return f"no {what} {args.filter!r} (--filter)"
    if args.learned_command == "topology":
        return "no entity learned"
    return (f"no alert-name pair is associated yet: of the {len(learner.cooccurrence.counts)} pairs counted on "
            f"related entities, none started together at least {MIN_TOGETHER:g} times, {MIN_LIFT:g} times as "
            f"often as chance and at p <= {MAX_P_VALUE:g}. A longer history brings the evidence")


def relate_rules(associations: list[dict], forbid: bool) -> str:
    """Learned associations as relate rules, each with its evidence: pin them (they then hold
    from the first alert, whatever the estate's counts) or forbid them."""
    import yaml

    lines = ["# Learned associations as relate rules: review them, keep what is true, and load them with "
             "the other rules.",
             "# A rule relates alerts on one entity or where one runs on the other; add through_dependencies: "
             "true where one side is what the other's service calls (a database and its clients' errors).",
             "version: 1", "rules:"]
    for found in associations:
        first, second = found["alertnames"]
        lines += [f"  # {found['together']:.0f} together against {found['by_chance']:.2f} by chance "
                  f"(lift {found['lift']:.1f}, p={found['p_value']:.2g})",
                  "  - " + yaml.safe_dump({
                      "name": f"{'forbid' if forbid else 'learned'}-{first}-{second}".lower()[:120],
                      "kind": "relate", "cause": [f'alertname="{first}"'], "effect": [f'alertname="{second}"'],
                      "scope": "entity", "window": "10m", **({"forbid": True} if forbid else {})},
                      sort_keys=False, default_flow_style=True, width=1000).strip()]
    return "\n".join(lines) + "\n"


def _learn_from(recording: Path, skip_bad: bool, config, rules_and_model):
    from correlator import wiring
    from correlator.engine.core import Engine
    from correlator.ingest.sources import parsers
    from correlator.offline.replay import BadLine, bad_line_stop, replay, report_progress, report_skipped

    rules, _ = rules_and_model(config)
    engine = Engine(rules, wiring.engine_settings(config))
    try:
        summary = replay(engine, recording, parsers(wiring.field_mappings(config)), wiring.ingest_policy(config),
                         skip_bad=skip_bad, progress=report_progress)
    except BadLine as error:
        print(bad_line_stop(recording, error), file=sys.stderr)
        return None
    report_skipped(recording, summary)
    return engine.learner


def _stored(config) -> dict[str, bytes]:
    from correlator.store import database
    from correlator.store.incidents import IncidentRepository

    engine = database.create_engine(config.database_url)
    try:
        database.upgrade(engine)
        return IncidentRepository(engine).load_learned()[1]
    finally:
        engine.dispose()


def _save(learner, config) -> int:
    from datetime import datetime, timezone

    from correlator.learning import state
    from correlator.store import database
    from correlator.store.incidents import IncidentRepository

    engine = database.create_engine(config.database_url)
    try:
        database.upgrade(engine)
        repository = IncidentRepository(engine)
        saved_at = datetime.fromtimestamp(learner.last_at or 0, timezone.utc)
        repository.save([], [], repository.load_progress(), saved_at, (saved_at, state.snapshot(learner)))
    finally:
        engine.dispose()
    print(f"learned state saved to {database.describe(engine)}: {json.dumps(state.size(learner))}", file=sys.stderr)
    return 0


def _print_json(items: list[dict]) -> None:
    for item in items:
        print(json.dumps(item))
