"""The `correlator` command. Wiring only: each subcommand hands over to the module that owns it."""

from __future__ import annotations

import argparse
import contextlib
import errno
import ipaddress
import logging
import os
import sys
from pathlib import Path

import msgspec

from correlator import __version__
from correlator.config import Config, ConfigError, check_store_url, load_config
from correlator.forward.commands import add_commands as add_forward_commands
from correlator.forward.commands import run as run_forward_command
from correlator.offline.learned_commands import add_commands as add_learned_commands
from correlator.offline.learned_commands import run as run_learned_command
from correlator.offline.model_commands import add_commands as add_ml_commands
from correlator.offline.model_commands import run as run_ml_command
from correlator.store import StoreUnreachable

log = logging.getLogger("correlator")

ENDPOINT_NAMES = ("alertmanager", "prometheus", "generic", "api")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="correlator",
        description="Turns a flood of monitoring alerts into a few well-described incidents. "
                    "Alertmanager, Prometheus and any JSON webhook post alerts to it.")
    parser.add_argument("--version", action="version", version=f"correlator {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="run the daemon", description=(
            "Run the HTTP receiver and API, and the engine in a child process that serve supervises "
            "(see --role). Migrates the store first. Flags override the config file, which "
            "overrides the defaults; CORRELATOR_<SECTION>_<KEY> environment variables override the file "
            "(e.g. CORRELATOR_SERVER_PORT=9099)."))
    _engine_process_flags(serve)
    serve.add_argument("--host", help="address to listen on (server.host, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (server.port, default 9099)")
    serve.add_argument("--record", metavar="FILE", help="append accepted notifications to FILE in the recording "
                                                        "format read by `correlator replay` (server.record)")
    serve.add_argument("--role", choices=("all", "ingest", "engine"), default="all",
                       help="all (default): the HTTP receiver and API here, and the engine in a child process "
                            "that serve restarts if it exits; ingest: the HTTP side only (run `correlator engine` "
                            "beside it); engine: the engine only, as `correlator engine`")

    engine = commands.add_parser(
        "engine", help="run the engine alone", description=(
            "Run the correlation engine in this process: it reads what serve stored, correlates, and "
            "saves incidents (serve starts it itself unless `serve --role ingest`). Stops after the "
            "step in progress on SIGTERM or SIGINT; SIGHUP reloads the rules."))
    _engine_process_flags(engine)
    engine.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)  # serve's child

    db = commands.add_parser("db", help="manage the store", description="Manage the store's schema.")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_commands.add_parser(
        "upgrade", help="apply schema migrations",
        description="Apply every pending Alembic migration to the store and print the revision.")
    _config_flag(upgrade)
    _db_flag(upgrade)

    rules = commands.add_parser("rules", help="check and test correlation rules",
                                description="Tools for the YAML correlation rules.")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    check = rules_commands.add_parser(
        "check", help="validate a rules directory",
        description="Validate every rule file of DIR (default: the configured rules directory); print every "
                    "error as file:line: message and exit 1 if there is any.")
    check.add_argument("dir", nargs="?", type=Path, metavar="DIR")
    _config_flag(check)
    test = rules_commands.add_parser(
        "test", help="run rule unit tests",
        description="Run rule unit tests written in YAML (input alerts at time offsets, expected incidents), "
                    "like promtool test rules, with the configured model and learning as `serve` runs them "
                    "(a file's `model: false` or --no-model: the rules alone). Exit 1 on any failure, with a "
                    "diff of what differed.")
    test.add_argument("files", nargs="+", type=Path, metavar="FILE")
    test.add_argument("--rules", type=Path, metavar="DIR",
                      help="rules to test (default: the test file's rule_dir, else the configured rules)")
    _no_model_flag(test)
    _config_flag(test)
    classify = rules_commands.add_parser(
        "classify", help="show how each alerting rule of Prometheus rule files is classified",
        description="For every alerting rule of Prometheus rule files or PrometheusRule manifests, the incident "
                    "its alert opens when it fires alone, with the configured rules and model: category, service "
                    "area, priority and what decided them (a classify rule, the lexicon's words, or the model when "
                    "neither says anything: pin a classify rule where that guess is wrong).")
    classify.add_argument("files", nargs="+", type=Path, metavar="FILE",
                          help="a rule file or manifest, or a directory of them (its *.yml and *.yaml)")
    classify.add_argument("--rules", type=Path, metavar="DIR", help="rules directory (default: the configured one)")
    classify.add_argument("--json", action="store_true", help="one JSON object per alerting rule")
    _no_model_flag(classify)
    _config_flag(classify)

    replay = commands.add_parser(
        "replay", help="run the engine offline on a recording",
        description="Run the full engine offline in event time on a recording (JSON Lines of "
                    '{"at", "source", "body"}, as `serve --record` writes) and write one incident per line.')
    replay.add_argument("input", type=Path, metavar="INPUT.jsonl")
    replay.add_argument("--out", type=Path, required=True, metavar="FILE", help="incidents, one JSON per line")
    replay.add_argument("--rules", metavar="DIR", help="rules directory (default: the configured one)")
    replay.add_argument("--skip-bad", action="store_true", help="report bad lines and go on (default: stop)")
    _no_model_flag(replay)
    replay.add_argument("--truth", type=Path, metavar="LABELS",
                        help="score the incidents against labeled episodes (JSON Lines, docs/quality.md): pairwise "
                             "and BCubed figures beside every-alert-alone and Alertmanager's group_by, category "
                             "accuracy and priority within one level")
    replay.add_argument("--draft-truth", type=Path, metavar="FILE",
                        help="also write a truth file to label from: one line per episode, with the incident, "
                             "category and priority the replay gave it and the alert's name and labels to read "
                             "by; correct what is wrong and score with --truth (docs/quality.md)")
    replay.add_argument("--json", action="store_true", help="with --truth: print the score as JSON")
    replay.add_argument("--baseline-group-by", metavar="LABELS",
                        help="with --truth: the group_by of the Alertmanager reference (default alertname,cluster)")
    _config_flag(replay)
    add_ml_commands(commands, _config_flag)
    add_learned_commands(commands, _config_flag, _db_flag)
    add_forward_commands(commands, _config_flag, _db_flag)

    commands.add_parser("version", help="print the version", description="Print the version and exit.")
    return parser


def _engine_process_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of `serve` that it passes on to its engine process (`_engine_flags`)."""
    _config_flag(parser)
    _db_flag(parser)
    parser.add_argument("--rules", metavar="DIR", help="directory of YAML rule files (rules.dir)")
    parser.add_argument("--log-format", choices=("logfmt", "json"), help="log line format (log.format)")


def _config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="YAML config file (default: $CORRELATOR_CONFIG, else the shipped config/correlator.yaml)")


def _no_model_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-model", action="store_true", help="no classification by the learned model "
                                                                "(ml.enabled: false)")


def _db_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", help="SQLAlchemy URL of the store (store.url), e.g. "
                        "postgresql://user@host/correlator; default: SQLite in the data directory")


def _with_flags(config: Config, args: argparse.Namespace) -> Config:
    replace = msgspec.structs.replace
    server = replace(config.server, **{k: v for k, v in (("host", getattr(args, "host", None)),
                                                         ("port", getattr(args, "port", None)),
                                                         ("record", getattr(args, "record", None))) if v is not None})
    if getattr(args, "db", None):
        check_store_url(args.db, "--db")
    store = replace(config.store, url=args.db) if getattr(args, "db", None) else config.store
    rules_dir = getattr(args, "rules", None)
    rules = replace(config.rules, dir=str(rules_dir)) if rules_dir else config.rules
    log_config = replace(config.log, format=args.log_format) if getattr(args, "log_format", None) else config.log
    ml = replace(config.ml, enabled=False) if getattr(args, "no_model", False) else config.ml
    return replace(config, server=server, store=store, rules=rules, log=log_config, ml=ml)


def check_exposure(config: Config) -> None:
    """Secure by default: beyond loopback, every endpoint needs credentials unless explicitly allowed."""
    host = config.server.host
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    def protected(name: str) -> bool:
        auth = config.auth.for_endpoint(name)
        # Reads cannot be body-signed: only bearer or basic credentials protect the API.
        return bool(auth.bearer_tokens or auth.basic_auth) if name == "api" else auth.has_credentials
    open_endpoints = [name for name in ENDPOINT_NAMES if not protected(name)]
    if not loopback and open_endpoints and not config.server.allow_unauthenticated_remote:
        raise ConfigError("server.host", (
            f"refusing to listen on {host} while {', '.join(open_endpoints)} accept unauthenticated "
            "requests: configure auth.default (bearer_tokens or basic_auth), or set "
            "server.allow_unauthenticated_remote: true if the network is trusted"))


def tune_runtime() -> None:
    """The engine and caches hold many long-lived objects; with CPython's default thresholds every
    full collection scans them all, so the cost per alert would grow with the number of open alerts:
    collect young objects less often (cycles are rare here)."""
    import gc
    gc.set_threshold(100_000, 50, 100)


class StartError(Exception):
    """What keeps a command from starting; main prints it and exits 2."""


def _rules_and_model(config: Config):
    """The rules and the model (None when ml.enabled is false) that `serve` and `replay` run with."""
    from correlator import wiring
    from correlator.ml.artifact import ModelError
    from correlator.rules.loader import RuleErrors
    try:
        return wiring.load_rules(config), wiring.load_model(config)
    except RuleErrors as failure:
        raise StartError(f"the rules in {config.rules_dir} do not load:\n{failure}") from None
    except ModelError as error:
        raise StartError(str(error)) from None


def _load(args: argparse.Namespace) -> tuple[Config, Path | None]:
    config, path = load_config(args.config)
    return _with_flags(config, args), path


def _check_forwarding(config: Config) -> None:
    """Build every forwarding destination once: a wrong option stops the daemon at start."""
    import asyncio

    from correlator import wiring
    from correlator.forward import registry
    from correlator.forward.contract import DestinationError

    forwarding = wiring.forwarding(config)  # ConfigError for a matcher that does not parse
    try:
        asyncio.run(registry.check(forwarding.specs))
    except DestinationError as error:
        raise ConfigError(f"forwarding.destinations[{error.destination}].{error.field}", error.reason) from None


def _engine_flags(args: argparse.Namespace) -> list[str]:
    """The `_engine_process_flags` serve was given, to start `correlator engine` with the same settings."""
    flags = []
    for name in ("config", "db", "rules", "log_format"):
        value = getattr(args, name, None)
        if value is not None:
            flags += [f"--{name.replace('_', '-')}", str(value)]
    return flags


def _engine(args: argparse.Namespace) -> int:
    import signal

    from correlator import engine_process, logs

    # Until the engine handles SIGHUP (a rule reload), one sent while it starts must not stop it.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    config, path = _load(args)
    tune_runtime()
    logs.configure(config.log.format, config.log.level)
    rules, model = _rules_and_model(config)
    _check_forwarding(config)
    _log_start(config, path, model)
    return engine_process.run(config, rules, model, supervised=getattr(args, "supervised", False))


def _log_start(config: Config, path: Path | None, model) -> None:
    log.info(f"correlator {__version__} starting", extra={
        "config": str(path) if path else "built-in defaults", "rules": str(config.rules_dir),
        "model": str(config.model_dir) if model is not None else "off", "data_dir": str(config.data_dir),
        "learning": "on" if config.learning.enabled else "off",
        **({"model_trained": model.manifest.get("created", "?")} if model is not None else {})})


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from correlator import logs
    from correlator.app import EngineSite, make_app
    from correlator.store.leadership import DaemonRunning, single_daemon

    if args.role == "engine":
        return _engine(args)
    config, path = _load(args)
    check_exposure(config)
    logs.configure(config.log.format, config.log.level)
    guard = single_daemon(config.database_url)  # one daemon per SQLite file
    if guard is not None:
        try:
            guard.acquire()
        except DaemonRunning as error:
            raise StartError(str(error)) from None
    rules, model = _rules_and_model(config)  # checked here too: a broken rule file stops serve at once
    _check_forwarding(config)
    _log_start(config, path, model)
    site = EngineSite.CHILD if args.role == "all" else EngineSite.ELSEWHERE
    command = (sys.executable, "-m", "correlator", "engine", "--supervised", *_engine_flags(args))
    try:
        import uvloop
        loop = uvloop.new_event_loop()
    except ImportError:
        import asyncio
        loop = asyncio.new_event_loop()
    url = f"http://{config.server.host}:{config.server.port}"
    app = make_app(config, rules=rules, model=model, engine_site=site, engine_command=command)
    app.on_startup.append(_freeze_started_app)  # the last start-up step: the app is whole by then
    with contextlib.closing(guard) if guard else contextlib.nullcontext():
        try:
            web.run_app(app, host=config.server.host, port=config.server.port, loop=loop,
                        shutdown_timeout=config.server.shutdown_timeout, access_log=None, handle_signals=True,
                        print=lambda _: log.info("listening", extra={"url": url}))
        except OSError as error:
            if error.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
                raise
            # What was started for it (the engine process) is stopped by then.
            raise StartError(f"cannot listen on {config.server.host}:{config.server.port}: {os.strerror(error.errno)} "
                             f"(another daemon on that port? choose another with server.port or --port)") from None
    log.info("stopped")
    return 0


async def _freeze_started_app(_app) -> None:
    """Exempt what start-up loaded (modules, rules, the model, the web app) from garbage collection:
    it lives as long as serve does, yet every full collection would walk it again (under load:
    pauses of 130-155 ms that every waiting request sat through). Collected first, so that no
    garbage is kept for good. Serve's heap stays small after start-up; the engine's grows with its
    state, and a full collection is due each time the unfrozen heap grew by a quarter: without
    start-up's objects in that base it collected more often (bench/engine.py at 100k open alerts:
    6,580-7,754 alerts/s frozen against 8,144-8,680), so the engine and replay do not freeze."""
    import gc
    gc.collect()
    gc.freeze()


def _db_upgrade(args: argparse.Namespace) -> int:
    from correlator.store import database

    config, _ = _load(args)
    engine = database.create_engine(config.database_url)
    revision = database.upgrade(engine)
    print(f"{database.describe(engine)} is at revision {revision}")
    return 0


def _rules_check(args: argparse.Namespace) -> int:
    from correlator import wiring
    from correlator.rules.loader import RuleErrors

    config = _load(args)[0]
    directory = args.dir or config.rules_dir
    try:
        rules = wiring.load_rules(config, directory)
    except RuleErrors as failure:
        for error in failure.errors:
            print(error)
        print(f"{len(failure.errors)} error(s) in {directory}", file=sys.stderr)
        return 1
    print(f"{directory}: {len(rules.files)} file(s), {rules.rule_count} rule(s), "
          f"{len(rules.catalog)} catalog service(s): OK")
    return 0


def _rules_test(args: argparse.Namespace) -> int:
    from correlator.ml.artifact import ModelError
    from correlator.offline.rule_tests import run_rule_tests

    config, _ = _load(args)
    try:
        return 0 if run_rule_tests(args.files, args.rules, config, out=sys.stdout) else 1
    except ModelError as error:
        raise StartError(str(error)) from None


def _rules_classify(args: argparse.Namespace) -> int:
    from correlator import wiring
    from correlator.engine.core import Engine
    from correlator.offline.alert_rules import RuleFileError, alerting_rules_in, read_alone, relate_rules, summary

    config, _ = _load(args)
    rules, model = _rules_and_model(config)
    settings = wiring.engine_settings(config)
    try:
        found = alerting_rules_in(args.files)
    except RuleFileError as error:
        print(f"correlator: {error}", file=sys.stderr)
        return 1
    readings = [read_alone(rule, lambda: Engine(rules, settings, model=model)) for rule in found]
    for reading in readings:
        if args.json:
            print(msgspec.json.encode(reading).decode())
        elif reading.incident:
            print(f"{reading.alert}: {reading.category} ({reading.service_area}), {reading.priority}; "
                  f"{reading.detail}; {relate_rules(reading)}")
        else:
            print(f"{reading.alert}: opens no incident alone; {relate_rules(reading)}")
    print(summary(readings), file=sys.stderr)
    return 0


def _replay(args: argparse.Namespace) -> int:
    import msgspec

    from correlator import wiring
    from correlator.engine.core import Engine
    from correlator.ingest.sources import parsers
    from correlator.offline import overwrites, scoring
    from correlator.offline.replay import (BadLine, bad_line_stop, episode_spans, replay, report_progress,
                                          report_skipped, write_incidents, write_truth_draft)

    if not args.truth and (args.json or args.baseline_group_by):
        print("correlator: --json and --baseline-group-by shape the score of --truth: give the truth file too",
              file=sys.stderr)
        return 2
    config, _ = _load(args)
    try:
        truth = scoring.read_truth(args.truth) if args.truth else None
    except (OSError, scoring.TruthError) as error:
        print(f"correlator: {args.truth}: {error}", file=sys.stderr)
        return 2
    rules, model = _rules_and_model(config)
    for option, path in (("--out", args.out), ("--draft-truth", args.draft_truth)):
        for kept, what in ((args.input, "the recording itself"), (args.truth, "the truth file it scores against")):
            if kept is not None and overwrites(path, kept):
                print(f"correlator: {option} {path} is {what}: writing it would destroy it", file=sys.stderr)
                return 2
    if args.draft_truth is not None and overwrites(args.draft_truth, args.out):
        print(f"correlator: --draft-truth and --out are one file, {args.out}: give each its own", file=sys.stderr)
        return 2
    for output in (args.out, args.draft_truth):  # an output it cannot write stops it now, not after the replay
        if output is not None:
            output.open("a").close()
    tune_runtime()
    engine = Engine(rules, wiring.engine_settings(config), model=model)
    try:
        summary = replay(engine, args.input, parsers(wiring.field_mappings(config)), wiring.ingest_policy(config),
                         args.skip_bad, report_progress)
    except BadLine as error:
        print(bad_line_stop(args.input, error), file=sys.stderr)
        return 1
    report_skipped(args.input, summary)
    write_incidents(engine, args.out)
    print(f"{summary.notifications} notifications, {summary.alerts} alerts in, {summary.incidents} incidents out "
          f"(reduction {summary.reduction:.1f}x), {summary.actions} operator actions, "
          f"{summary.bad_lines} bad lines skipped, {summary.seconds:.2f}s; incidents written to {args.out}",
          file=sys.stderr)
    if args.draft_truth is not None:
        drafted = write_truth_draft(engine, args.draft_truth)
        print(f"correlator: {drafted} episodes written to {args.draft_truth} with the replay's own incidents: "
              f"as written it scores perfectly; correct the incident, category and priority where the replay "
              f"was wrong, then score with --truth", file=sys.stderr)
    if truth is not None:
        spans = episode_spans(engine, tuple((args.baseline_group_by or "alertname,cluster").split(",")))
        result = scoring.score(scoring.read_placements(args.out), truth, spans)
        print(msgspec.json.encode(scoring.as_dict(result)).decode() if args.json else scoring.format_score(result))
        if not result.grouping.episodes:  # every figure above is then 1.0 or none: say why
            print(f"correlator: {args.truth}: none of the {result.missing} episodes it labels with an incident is "
                  f"in this replay, so nothing was scored: the truth must name this recording's alerts by their "
                  f"fingerprint and startsAt (docs/quality.md, \"The truth file\")", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "engine":
            return _engine(args)
        if args.command == "db":
            return _db_upgrade(args)
        if args.command == "rules":
            return {"check": _rules_check, "test": _rules_test, "classify": _rules_classify}[args.rules_command](args)
        if args.command == "replay":
            return _replay(args)
        if args.command in ("train", "analyze", "corpus"):
            return run_ml_command(args, _load)
        if args.command == "learned":
            return run_learned_command(args, _load, _rules_and_model)
        if args.command == "forward":
            return run_forward_command(args, _load)
        print(f"correlator {__version__}")
        return 0
    except (ConfigError, StartError, StoreUnreachable) as error:
        print(f"correlator: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C on a long replay or warm-start: no traceback for it
        print("correlator: interrupted", file=sys.stderr)
        return 130
    except OSError as error:
        if error.filename is None or args.command in ("serve", "engine"):
            raise  # a daemon's own fault: its traceback is the report
        # A file the command was given (a recording to read, an output to write) it cannot use.
        print(f"correlator: {error.filename}: {error.strerror}", file=sys.stderr)
        return 1
