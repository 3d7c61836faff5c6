"""What the daemon and the commands build from the configuration: the ingest policy and field
mappings, the engine's settings, the rules and the model. It sits above everything so that config
stays a leaf: the configuration says what was asked for, this module makes the parts from it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import msgspec

from correlator.config import Config, ConfigError
from correlator.forward.registry import DestinationSpec
from correlator.forward.routing import Route, parse_route
from correlator.forward.worker import DeliveryPolicy
from correlator.engine.core import EngineSettings
from correlator.ingest.flapping import FlapDetector
from correlator.ingest.generic import FieldMapping
from correlator.ingest.normalize import AlertLimits, IngestPolicy
from correlator.ml import artifact
from correlator.ml.model import LearnedModel
from correlator.rules import loader
from correlator.rules.matchers import MatcherError, MatcherSyntax


def ingest_policy(config: Config) -> IngestPolicy:
    ingest = config.ingest
    return IngestPolicy(resolve_timeout=timedelta(seconds=ingest.resolve_timeout),
                        silence_timeout=timedelta(seconds=ingest.silence_timeout) or None,
                        classic_label_names=ingest.label_names == "classic",
                        limits=msgspec.convert(ingest.limits, AlertLimits, from_attributes=True),
                        fingerprint_ignore_labels={source: frozenset(names) for source, names
                                                   in ingest.fingerprint_ignore_labels.items()})


def field_mappings(config: Config) -> dict[str, FieldMapping]:
    """`ingest.mappings`: source name -> where its JSON bodies hold each alert field."""
    return {name: msgspec.convert(mapping, FieldMapping, from_attributes=True)
            for name, mapping in config.ingest.mappings.items()}


def flap_detector(config: Config) -> FlapDetector:
    """What marks the alerts view's flapping episodes (store/alert_view.py)."""
    return FlapDetector(config.ingest.flapping.max_changes, int(config.ingest.flapping.window * 1e6))


def engine_settings(config: Config) -> EngineSettings:
    engine, ml = config.engine, config.ml
    flapping = config.ingest.flapping
    return EngineSettings(resolve_hold=timedelta(seconds=engine.resolve_hold),
                          flap_changes=flapping.max_changes, flap_window=timedelta(seconds=flapping.window),
                          flap_hold=timedelta(seconds=engine.flap_hold),
                          reopen_window=timedelta(seconds=engine.reopen_window),
                          close_after=timedelta(seconds=engine.close_after),
                          problem_recurrences=engine.problems.recurrences,
                          problem_period=timedelta(seconds=engine.problems.period),
                          learning=config.learning.enabled,
                          learning_save_every=timedelta(seconds=config.learning.save_every),
                          classification=ml.classification.enabled,
                          low_confidence=ml.classification.low_confidence)


def load_model(config: Config) -> LearnedModel | None:
    """The learned model, or None when `ml.enabled` is false. Raises ml.artifact.ModelError."""
    return artifact.load(config.model_dir) if config.ml.enabled else None


def load_rules(config: Config, directory: Path | None = None) -> loader.RuleSet:
    """The rules of `directory` (default: `rules.dir`), their matchers read with
    `rules.matcher_parser`. Raises rules.loader.RuleErrors."""
    return loader.load_rules(directory or config.rules_dir, MatcherSyntax(config.rules.matcher_parser))


@dataclass(frozen=True)
class Forwarding:
    """`forwarding` as the engine process runs it: destinations to build, their routes and rates."""

    specs: list[DestinationSpec]
    routes: tuple[Route, ...]
    rates: dict[str, float]
    policy: DeliveryPolicy
    external_url: str


def forwarding(config: Config) -> Forwarding:
    """Raises ConfigError naming `forwarding.destinations[NAME].match` for a matcher that does not parse."""
    section, specs, routes = config.forwarding, [], []
    for destination in section.destination_configs():
        specs.append(DestinationSpec(destination.name, destination.type, destination.options))
        try:
            routes.append(parse_route(destination.name, destination.match, MatcherSyntax(config.rules.matcher_parser)))
        except MatcherError as error:
            raise ConfigError(f"forwarding.destinations[{destination.name}].match", str(error)) from None
    timeout = float(section.timeout)
    policy = DeliveryPolicy(first_retry=float(section.retry_first), max_retry=float(section.retry_max),
                            timeout=timeout, lease=4 * timeout, batch=section.concurrency)
    return Forwarding(specs, tuple(routes), {d.name: d.rate_limit for d in section.destination_configs() if d.rate_limit},
                      policy, section.external_url)
