"""Loading a directory of rule files into a RuleSet, with errors that give file, line and reason.

Loading is all or nothing: a RuleSet is returned only when every file is valid, so a broken file
never replaces the rules in force."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import yaml

from correlator.domain import Level
from correlator.rules.matchers import (MatcherError, MatcherSyntax, RegexError, compile_regex, names_alerts,
                                      parse_matchers)
from correlator.rules.roles import RelateRoles
from correlator.rules.schema import (SCHEMA_VERSION, AssignRule, ClassifyRule, DependencyRule, EscalateRule,
                                     GroupRule, LinkRule, MaintenanceRule, RelateRule, Matchers, PriorityRule,
                                     Rule, RuleFile, Seconds, Service, SuppressRule)
from correlator.units import seconds_from


@dataclass(frozen=True, slots=True)
class RuleError:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class RuleErrors(Exception):
    def __init__(self, errors: list[RuleError]):
        super().__init__("\n".join(str(error) for error in errors))
        self.errors = errors


@dataclass(frozen=True)
class RuleSet:
    """Every rule in force, by kind, in file order (files sorted by name)."""

    groups: tuple[GroupRule, ...] = ()
    links: tuple[LinkRule, ...] = ()
    relations: tuple[RelateRule, ...] = ()
    dependencies: tuple[DependencyRule, ...] = ()
    suppressions: tuple[SuppressRule, ...] = ()
    maintenance: tuple[MaintenanceRule, ...] = ()
    classifiers: tuple[ClassifyRule, ...] = ()
    priority: PriorityRule = field(default_factory=lambda: PriorityRule(name="default-itil-matrix"))
    assignments: tuple[AssignRule, ...] = ()
    escalations: tuple[EscalateRule, ...] = ()
    catalog: tuple[Service, ...] = ()
    files: tuple[str, ...] = ()
    matcher_syntax: MatcherSyntax = MatcherSyntax.FALLBACK  # how the files' matchers were read (a reload too)

    def service(self, name: str) -> Service | None:
        return self._services.get(name)

    def dependents(self, name: str) -> tuple[str, ...]:
        """Services whose depends_on names `name`."""
        return self._dependents.get(name, ())

    def __post_init__(self):
        # The relate rules naming both sides, and the alert's part in them: what orders an
        # incident's likeliest causes (engine/roots.py `in_causal_order`). A side that only
        # excludes (`effect: ['alertname!~"..."']`) names no alert: any alert but those.
        object.__setattr__(self, "causal_roles", RelateRoles(
            rule for rule in self.relations
            if not rule.forbid and names_alerts(rule.cause) and names_alerts(rule.effect)))
        services = {service.service: service for service in self.catalog}
        dependents: dict[str, list[str]] = {}
        for service in self.catalog:
            for dependency in service.depends_on:
                dependents.setdefault(dependency, []).append(service.service)
        object.__setattr__(self, "_services", services)
        object.__setattr__(self, "_dependents", {k: tuple(v) for k, v in dependents.items()})

    @property
    def rule_count(self) -> int:
        return (len(self.groups) + len(self.links) + len(self.relations) + len(self.dependencies) + len(self.suppressions)
                + len(self.maintenance) + len(self.classifiers) + len(self.assignments) + len(self.escalations)
                + (self.priority.name != "default-itil-matrix"))


def _dec_hook(kind: type, value: Any, syntax: MatcherSyntax = MatcherSyntax.FALLBACK) -> Any:
    if kind is Seconds:
        return seconds_from(value)
    if kind is Matchers:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise ValueError('expected a list of matchers such as [\'severity="critical"\'] or one "{...}" string')
        try:
            return Matchers(matcher for item in items for matcher in parse_matchers(item, syntax))
        except MatcherError as error:
            raise ValueError(f"invalid matcher: {error}") from None
    raise NotImplementedError


class _AliasInItself(Exception):
    def __init__(self, node: yaml.Node):
        self.line = node.start_mark.line + 1


def _line_map(node: yaml.Node, path: str, lines: dict[str, int], seen: set[int] | None = None,
              inside: frozenset[int] = frozenset()) -> None:
    """Each path's line. A node an alias repeats is read where it first appears (aliases of aliases
    would otherwise be walked exponentially often); one that contains itself is refused."""
    seen = set() if seen is None else seen
    lines[path] = node.start_mark.line + 1
    if id(node) in inside:
        raise _AliasInItself(node)
    if id(node) in seen:
        return
    seen.add(id(node))
    inside |= {id(node)}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _line_map(value, f"{path}.{key.value}" if path else str(key.value), lines, seen, inside)
            lines.setdefault(f"{path}.{key.value}#key" if path else f"{key.value}#key", key.start_mark.line + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_map(item, f"{path}[{index}]", lines, seen, inside)


def _line_of(lines: dict[str, int], path: str) -> int:
    while path:
        if path in lines:
            return lines[path]
        path = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", path)
    return lines.get("", 1)


def _error_path(error: msgspec.ValidationError) -> tuple[str, str]:
    reason, _, where = str(error).rpartition(" - at `$")
    if not reason:
        reason, where = str(error), ""
    path = where.rstrip("`").lstrip(".")
    if reason.startswith("Object contains unknown field `"):
        unknown = reason.split("`")[1]
        return (f"{path}.{unknown}#key" if path else f"{unknown}#key"), f"unknown key {unknown!r}"
    return path, reason


def _rule_error(name: str, lines: dict[str, int], error: msgspec.ValidationError, root: str) -> RuleError:
    path, reason = _error_path(error)
    if root:
        path = f"{root}.{path}" if path and not path.startswith("[") else f"{root}{path}"
    shown = path.removesuffix("#key")
    if path.endswith(".kind") and reason.startswith("Invalid value"):
        reason = f"unknown kind {reason.removeprefix('Invalid value ')}; expected one of {', '.join(KINDS)}"
    return RuleError(name, _line_of(lines, path), f"{shown}: {reason}" if shown else reason)


def parse_rule_file(text: str, name: str, syntax: MatcherSyntax = MatcherSyntax.FALLBACK) -> RuleFile:
    """One rule file; its matchers read with `syntax` (Alertmanager's parser flags)."""
    dec_hook = functools.partial(_dec_hook, syntax=syntax)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise RuleErrors([RuleError(name, mark.line + 1 if mark else 1,
                                    f"invalid YAML: {getattr(error, 'problem', None) or error}")]) from None
    lines: dict[str, int] = {}
    if root is not None:
        try:
            _line_map(root, "", lines)
        except _AliasInItself as error:
            raise RuleErrors([RuleError(name, error.line, "a YAML alias refers to a node that contains it: "
                                                          "a rule cannot be infinite")]) from None
    if not isinstance(document, dict):
        raise RuleErrors([RuleError(name, 1, "a rule file is a mapping with version, catalog and rules")])
    if document.get("version") != SCHEMA_VERSION:
        raise RuleErrors([RuleError(name, lines.get("version", 1),
                                    f"version: expected {SCHEMA_VERSION}, got {document.get('version')!r}")])
    # Each rule on its own, so that one file reports an error for every broken rule.
    errors: list[RuleError] = []
    rules = document.get("rules") or []
    if not isinstance(rules, list):
        raise RuleErrors([RuleError(name, lines.get("rules", 1), "rules: expected a list of rules")])
    converted = []
    for index, rule in enumerate(rules):
        try:
            converted.append(msgspec.convert(rule, Rule, dec_hook=dec_hook))
        except msgspec.ValidationError as error:
            errors.append(_rule_error(name, lines, error, f"rules[{index}]"))
    try:
        parsed = msgspec.convert({**document, "rules": []}, RuleFile, dec_hook=dec_hook)
    except msgspec.ValidationError as error:
        errors.append(_rule_error(name, lines, error, ""))
    if errors:
        raise RuleErrors(errors)
    parsed = msgspec.structs.replace(parsed, rules=converted)
    errors = [RuleError(name, _line_of(lines, path), f"{path}: {reason}") for path, reason in _semantic_errors(parsed)]
    if errors:
        raise RuleErrors(errors)
    return parsed


def _semantic_errors(parsed: RuleFile):
    for index, rule in enumerate(parsed.rules):
        path = f"rules[{index}]"
        if isinstance(rule, GroupRule) and not rule.group_by:
            yield f"{path}.group_by", "at least one label to group by is required"
        if isinstance(rule, GroupRule) and rule.min_alerts < 1:
            yield f"{path}.min_alerts", f"must be at least 1 (the alerts a group needs to open an incident), " \
                                        f"got {rule.min_alerts}"
        if isinstance(rule, LinkRule):
            for side in ("source_regex", "target_regex"):
                try:
                    if compile_regex(getattr(rule, side)).groups < 1:
                        yield f"{path}.{side}", "needs a capture group: group 1 is the key"
                except RegexError as error:
                    yield f"{path}.{side}", f"invalid regular expression: {error.reason}"
        if isinstance(rule, RelateRule) and rule.through_dependencies and rule.scope != "entity":
            yield f"{path}.through_dependencies", "follows what services depend on, which only scope: entity relates by"
        if isinstance(rule, MaintenanceRule):
            for number, window in enumerate(rule.windows):
                where = f"{path}.windows[{number}]"
                if window.recurring:
                    if window.start is not None or window.end is not None:
                        yield where, "a window is either one-off (start, end) or recurring (weekdays, ...)"
                    if window.duration <= 0:
                        yield f"{where}.duration", "a recurring window needs a duration such as 2h"
                    try:
                        time.fromisoformat(window.start_time)
                    except ValueError:
                        yield f"{where}.start_time", f"expected HH:MM, got {window.start_time!r}"
                    try:
                        ZoneInfo(window.timezone)
                    except (ZoneInfoNotFoundError, ValueError):
                        yield f"{where}.timezone", f"unknown time zone {window.timezone!r}"
                elif window.start is None or window.end is None:
                    yield where, "give start and end (one-off) or weekdays, start_time and duration (recurring)"
                elif window.end <= window.start:
                    yield f"{where}.end", "must be after start"
        if isinstance(rule, PriorityRule):
            for impact in Level:
                for urgency in Level:
                    if urgency not in rule.matrix.get(impact, {}):
                        yield f"{path}.matrix", f"missing the priority for impact {impact}, urgency {urgency}"
        if isinstance(rule, AssignRule) and not (rule.team or rule.team_label):
            yield path, "give team (a name) or team_label (the label that holds the team)"
        if isinstance(rule, EscalateRule) and not rule.after:
            yield f"{path}.after", "give at least one priority and delay, e.g. {P1: 15m}"


KINDS = ("group", "link", "relate", "dependency", "suppress", "maintenance", "classify", "priority", "assign", "escalate")
_KINDS = {GroupRule: "groups", LinkRule: "links", RelateRule: "relations", DependencyRule: "dependencies", SuppressRule: "suppressions",
          MaintenanceRule: "maintenance", ClassifyRule: "classifiers", AssignRule: "assignments",
          EscalateRule: "escalations"}


def _read_text(path: Path) -> str:
    """A rule file's text: UTF-8, as YAML is (a Latin-1 `é` in a description is refused where it is)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RuleErrors([RuleError(str(path), 1, f"cannot be read: {error.strerror}")]) from None
    try:
        return data.decode()
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        reason = f"not UTF-8 text: byte 0x{data[error.start]:02x} cannot start or continue a UTF-8 character; " \
                 "save the file as UTF-8"
        raise RuleErrors([RuleError(str(path), line, reason)]) from None


def load_rules(directory: Path, matcher_syntax: MatcherSyntax = MatcherSyntax.FALLBACK) -> RuleSet:
    """Every `*.yaml`/`*.yml` file directly in `directory`, in name order, matchers read with
    `matcher_syntax`; raises RuleErrors listing every error of every file."""
    if not directory.is_dir():
        raise RuleErrors([RuleError(str(directory), 1, "not a directory of rule files")])
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    errors: list[RuleError] = []
    parsed: list[tuple[Path, RuleFile]] = []
    for path in files:
        try:
            parsed.append((path, parse_rule_file(_read_text(path), str(path), matcher_syntax)))
        except RuleErrors as failure:
            errors.extend(failure.errors)
    kinds: dict[str, list] = {name: [] for name in _KINDS.values()}
    priority, names, catalog = None, {}, {}
    for path, rule_file in parsed:
        for index, rule in enumerate(rule_file.rules):
            if rule.name in names:
                errors.append(RuleError(str(path), 1, f"rules[{index}].name: {rule.name!r} is already used "
                                                      f"in {names[rule.name]}"))
            names[rule.name] = str(path)
            if isinstance(rule, PriorityRule):
                priority = rule  # the last one wins: a later file overrides the shipped matrix
            else:
                kinds[_KINDS[type(rule)]].append(rule)
        for service in rule_file.catalog:
            catalog[service.service] = service
    for service in catalog.values():
        for dependency in service.depends_on:
            if dependency not in catalog:
                errors.append(RuleError(names.get(service.service, "catalog"), 1,
                                        f"catalog: {service.service} depends on unknown service {dependency!r}"))
    if errors:
        raise RuleErrors(errors)
    return RuleSet(**{name: tuple(rules) for name, rules in kinds.items()},
                   **({"priority": priority} if priority else {}),
                   catalog=tuple(catalog.values()), files=tuple(str(path) for path, _ in parsed),
                   matcher_syntax=matcher_syntax)
