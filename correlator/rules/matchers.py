"""Alertmanager label matchers: `name op value` with `=`, `!=`, `=~`, `!~`.

Same grammar as Alertmanager's UTF-8 matcher parser (`matcher/parse`): a YAML list of matchers or
one `{a="1", b=~"x|y"}` string (braces optional, one trailing comma allowed), quoted strings with
Go's escapes (`strconv.Unquote`: `\\n`, `\\"`, `\\xNN` bytes, `\\uNNNN`, `\\UNNNNNNNN`, octal; the result
must be UTF-8), unquoted values of any characters but whitespace and `{}!=~,\\"'``. Regexes are
RE2's, the syntax Go's `regexp` implements, fully anchored, and run by RE2 itself: in time linear in
the value, so a pattern sent in an API filter cannot stall the daemon (Python's `re` backtracks:
`(a+)+b` against 35 `a`s ran for minutes). A missing label matches as the empty string.

As Alertmanager 0.27+ does by default (`matcher/compat`), input that only the classic parser
(`pkg/labels`, Alertmanager before 0.27) accepts is parsed with it, with a warning, so the matchers
of an existing Alertmanager configuration load (`MatcherSyntax.FALLBACK`).
"""

from __future__ import annotations

import enum
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import re2

log = logging.getLogger(__name__)


class MatchType(enum.StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


class MatcherSyntax(enum.StrEnum):
    """Which parser reads matchers (Alertmanager's feature flags)."""

    FALLBACK = "fallback"  # UTF-8 first, then classic with a warning (Alertmanager's default)
    UTF8 = "utf8"  # UTF-8 only (`utf8-strict-mode`)
    CLASSIC = "classic"  # classic only (`classic-mode`)


class MatcherError(ValueError):
    """A matcher that does not parse; `position` is the offset in the input."""

    def __init__(self, text: str, position: int, reason: str):
        super().__init__(f"{reason} at position {position} in {text!r}")
        self.text, self.position, self.reason = text, position, reason


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is reported as an error of its rule, not on stderr
# RE2 quotes what it refused after the reason ("missing ): a(b"): where it is, for the position.
_RE2_QUOTED = re.compile(r": (.+)\Z", re.S)


class RegexError(ValueError):
    def __init__(self, pattern: str, reason: str):
        quoted = _RE2_QUOTED.search(reason)
        super().__init__(reason)
        self.reason, self.position = reason, max(pattern.find(quoted.group(1)), 0) if quoted else 0


def compile_regex(pattern: str):
    """`pattern` compiled by RE2 (Go's syntax, as Alertmanager's), which matches in time linear in
    the text; RegexError with RE2's reason where it refuses it."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as error:
        raise RegexError(pattern, error.args[0].decode(errors="replace") if error.args else "refused by RE2") from None


# Regex results are memoised per matcher: label values repeat endlessly (alert names, severities),
# and the engine evaluates the same matchers for every alert. Bounded; cleared when full.
_MEMO_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    type: MatchType
    value: str
    _regex: re2._Regexp | None = field(default=None, compare=False, repr=False)
    _memo: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def create(cls, name: str, type: MatchType, value: str) -> "Matcher":
        regex = None
        if type in (MatchType.REGEX, MatchType.NOT_REGEX):
            try:
                regex = compile_regex(value)
            except RegexError as error:
                raise MatcherError(value, error.position, f"invalid regular expression: {error.reason}") from None
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
            try:
                matched = self._regex.fullmatch(actual) is not None
            except UnicodeEncodeError:  # a lone surrogate: no UTF-8 text, which no pattern matches
                matched = False
            self._memo[actual] = matched
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


_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}
_ESCAPE_DIGITS = {"x": (2, 16), "u": (4, 16), "U": (8, 16), **{d: (3, 8) for d in "01234567"}}
_DIGITS = {8: frozenset("01234567"), 16: frozenset("0123456789abcdefABCDEF")}


def go_unquote(token: str) -> str:
    """Go's `strconv.Unquote` of a double-quoted string, whose bytes must then be UTF-8 (as
    Alertmanager's lexer requires). ValueError when it is not valid."""
    body, out, i = token[1:-1], bytearray(), 0
    while i < len(body):
        char = body[i]
        if char == "\n":
            raise ValueError("a newline inside a quoted string")
        if char != "\\":
            out += char.encode("utf-8", "surrogatepass")
            i += 1
            continue
        escape = body[i + 1:i + 2]
        if escape in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[escape])
            i += 2
            continue
        if escape not in _ESCAPE_DIGITS:
            raise ValueError(f"unknown escape \\{escape}")
        digits, base = _ESCAPE_DIGITS[escape]
        start = i + 1 if base == 8 else i + 2
        number = body[start:start + digits]
        if len(number) != digits or not _DIGITS[base].issuperset(number):
            raise ValueError(f"invalid escape \\{body[i + 1:start + digits]}")
        code = int(number, base)
        if escape in "uU":
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise ValueError(f"invalid code point \\{escape}{number}")
            out += chr(code).encode("utf-8")
        elif code > 255:
            raise ValueError(f"invalid octal escape \\{number}")
        else:
            out.append(code)  # \\xNN and octal are bytes: several may spell one UTF-8 character
        i = start + digits
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not valid UTF-8") from None


def _unquote(text: str, token: str, position: int) -> str:
    try:
        return go_unquote(token)
    except ValueError as error:
        raise MatcherError(text, position, f"invalid quoted string {token}: {error}") from None


def parse_matchers(text: str, syntax: MatcherSyntax = MatcherSyntax.FALLBACK) -> list[Matcher]:
    """Parse `{a="1", b=~"x|y"}` (or `a="1", b=~"x|y"`, or one matcher) into matchers, ANDed.

    FALLBACK: input the UTF-8 parser refuses but the classic one accepts is read as the classic
    parser reads it, and a warning says how to write it. Where both accept it and differ (the
    classic parser keeps `\\t` as two characters), the UTF-8 reading is kept: correlator's rules
    have always been read that way (Alertmanager keeps the classic reading there)."""
    if syntax is MatcherSyntax.CLASSIC:
        return parse_classic(text)
    try:
        matchers = parse_utf8(text)
    except MatcherError as error:
        if syntax is MatcherSyntax.UTF8:
            raise
        try:
            classic = parse_classic(text)
        except MatcherError:
            raise error from None
        log.warning("matchers %r are not valid in Alertmanager's UTF-8 syntax (%s): read with the classic parser, "
                    "as Alertmanager does; to keep them valid, write %s", text, error.reason,
                    ", ".join(str(m) for m in classic))
        return classic
    if syntax is MatcherSyntax.FALLBACK:
        try:
            if parse_classic(text) != matchers:
                log.warning("matchers %r read differently by Alertmanager's classic parser: the UTF-8 reading "
                            "%s is kept", text, ", ".join(str(m) for m in matchers))
        except MatcherError:
            pass
    return matchers


def parse_utf8(text: str) -> list[Matcher]:
    """Alertmanager's UTF-8 matchers parser (`matcher/parse`)."""
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


def names_alerts(matchers: Iterable[Matcher]) -> bool:
    """Whether `matchers` name the alerts they match (one asks for a value) rather than only
    exclude some: a relate rule's side that only excludes is any alert but those."""
    return any(matcher.type in (MatchType.EQUAL, MatchType.REGEX) for matcher in matchers)


def matches_all(matchers: list[Matcher], labels: Mapping[str, str]) -> bool:
    for matcher in matchers:  # a plain loop: this runs for every rule and every alert
        if not matcher.matches(labels):
            return False
    return True


# -- the classic parser (Alertmanager's pkg/labels ParseMatchers) ---------------------------------

_CLASSIC_MATCHER = re.compile(r"[\t\n\f\r ]*([a-zA-Z_:][a-zA-Z0-9_:]*)[\t\n\f\r ]*(=~|=|!=|!~)[\t\n\f\r ]*(.*?)"
                              r"[\t\n\f\r ]*\Z", re.S)


def parse_classic(text: str) -> list[Matcher]:
    """Alertmanager's classic parser: one optional `{` and `}` trimmed, split at commas outside
    double quotes, each part `name op value` where the value may be quoted and knows the escapes
    `\\n`, `\\"` and `\\\\` (any other backslash is literal)."""
    body = text.removeprefix("{").removesuffix("}")
    parts, current, quoted, escaped = [], [], False, False
    for char in body:
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        if char == '"':
            quoted, escaped = (not quoted, False) if not escaped else (quoted, False)
        elif char == "\\":
            escaped = not escaped
        elif char != ",":
            escaped = False
        current.append(char)
    last = "".join(current).strip()
    if last:
        parts.append(last)
    return [_classic_matcher(text, part) for part in parts]


def _classic_matcher(text: str, part: str) -> Matcher:
    match = _CLASSIC_MATCHER.match(part)
    if match is None:
        raise MatcherError(text, text.find(part), f"bad matcher format: {part}")
    name, op, raw = match.groups()
    quoted = raw.startswith('"')
    value, escaped, chars = [], False, raw[1:] if quoted else raw
    for index, char in enumerate(chars):
        last = index == len(chars) - 1
        if escaped:
            escaped = False
            value.append("\n" if char == "n" else char if char in '"\\' else "\\" + char)
        elif char == "\\" and not last:
            escaped = True
        elif char == '"':
            if not quoted or not last:
                raise MatcherError(text, text.find(part), f"matcher value contains unescaped double quote: {raw}")
            quoted = False
        else:
            value.append(char)
    if quoted:
        raise MatcherError(text, text.find(part), f"matcher value contains unescaped double quote: {raw}")
    return Matcher.create(name, MatchType(op), "".join(value))
