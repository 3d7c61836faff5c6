"""Alertmanager label matchers: `name op value` with `=`, `!=`, `=~`, `!~`.

Same grammar as Alertmanager's UTF-8 matcher parser (`matcher/parse`): a YAML list of matchers or
one `{a="1", b=~"x|y"}` string (braces optional, one trailing comma allowed), quoted strings with
Go escapes, unquoted values of any characters but whitespace and `{}!=~,\\"'``. Regexes are fully
anchored. A missing label matches as the empty string.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass, field
from typing import Mapping


class MatchType(enum.StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


class MatcherError(ValueError):
    """A matcher that does not parse; `position` is the offset in the input."""

    def __init__(self, text: str, position: int, reason: str):
        super().__init__(f"{reason} at position {position} in {text!r}")
        self.text, self.position, self.reason = text, position, reason


# Regex results are memoised per matcher: label values repeat endlessly (alert names, severities),
# and the engine evaluates the same matchers for every alert. Bounded; cleared when full.
_MEMO_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    type: MatchType
    value: str
    _regex: re.Pattern | None = field(default=None, compare=False, repr=False)
    _memo: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def create(cls, name: str, type: MatchType, value: str) -> "Matcher":
        regex = None
        if type in (MatchType.REGEX, MatchType.NOT_REGEX):
            try:
                regex = re.compile(f"(?:{value})", re.S)
            except re.error as error:
                raise MatcherError(value, error.pos or 0, f"invalid regular expression: {error.msg}") from None
        return cls(name, type, value, regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.type is MatchType.EQUAL:
            return actual == self.value
        if self.type is MatchType.NOT_EQUAL:
            return actual != self.value
        matched = self._memo.get(actual)
        if matched is None:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            matched = self._memo[actual] = self._regex.fullmatch(actual) is not None
        return matched if self.type is MatchType.REGEX else not matched

    def __str__(self) -> str:
        return f"{self.name}{self.type.value}{json.dumps(self.value, ensure_ascii=False)}"


_TOKEN = re.compile(r"""
    \s*(?:
      (?P<quoted>"(?:[^"\\]|\\.)*")
    | (?P<op>=~|!~|!=|=)
    | (?P<punct>[{},])
    | (?P<bare>[^\s{}!=~,\\"'`]+)
    )""", re.X | re.S)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise MatcherError(text, pos, f"unexpected character {text[pos:].lstrip()[0]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


def _unquote(text: str, token: str, position: int) -> str:
    try:
        return json.loads(token)  # Go and JSON share the escapes that matter here
    except json.JSONDecodeError:
        raise MatcherError(text, position, f"invalid quoted string {token}") from None


def parse_matchers(text: str) -> list[Matcher]:
    """Parse `{a="1", b=~"x|y"}` (or `a="1", b=~"x|y"`, or one matcher) into matchers, ANDed."""
    tokens = _tokens(text)
    if tokens and tokens[0][1] == "{":
        if tokens[-1][1] != "}":
            raise MatcherError(text, len(text), "missing closing '}'")
        tokens = tokens[1:-1]
    elif tokens and tokens[-1][1] == "}":
        raise MatcherError(text, tokens[-1][2], "unexpected '}' without opening '{'")
    matchers, index = [], 0
    while index < len(tokens):
        if index + 3 > len(tokens):
            position = tokens[index][2]
            raise MatcherError(text, position, "expected a matcher of the form name=\"value\"")
        (name_kind, name, name_pos), (op_kind, op, op_pos), (value_kind, value, value_pos) = tokens[index:index + 3]
        if name_kind not in ("bare", "quoted"):
            raise MatcherError(text, name_pos, f"expected a label name, got {name!r}")
        if op_kind != "op":
            raise MatcherError(text, op_pos, f"expected one of =, !=, =~, !~ after {name!r}, got {op!r}")
        if value_kind not in ("bare", "quoted"):
            raise MatcherError(text, value_pos, f"expected a value after {name}{op}, got {value!r}")
        if name_kind == "quoted":
            name = _unquote(text, name, name_pos)
        if value_kind == "quoted":
            value = _unquote(text, value, value_pos)
        matchers.append(Matcher.create(name, MatchType(op), value))
        index += 3
        if index < len(tokens):
            if tokens[index][1] != ",":
                raise MatcherError(text, tokens[index][2], f"expected ',' between matchers, got {tokens[index][1]!r}")
            index += 1
    return matchers


def matches_all(matchers: list[Matcher], labels: Mapping[str, str]) -> bool:
    for matcher in matchers:  # a plain loop: this runs for every rule and every alert
        if not matcher.matches(labels):
            return False
    return True
