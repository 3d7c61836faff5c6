"""Matchers behave as Alertmanager documents them (docs/configuration.md "Label matchers")."""

import json
import subprocess
import sys

import pytest
from hypothesis import given, strategies as st

from correlator.rules.matchers import MatcherError, MatcherSyntax, MatchType, parse_matchers

LABELS = {"alertname": "HighCPU", "instance": "node1:9100", "env": "prod"}


@pytest.mark.parametrize("text, matches", [
    ('alertname="HighCPU"', True),
    ("alertname=HighCPU", True),
    ('alertname!="HighCPU"', False),
    ('instance=~"node1.*"', True),
    ('instance=~"node1"', False),  # fully anchored
    ('instance!~"node[23].*"', True),
    ('env=~"prod|staging"', True),
    ('team=""', True),  # a missing label equals the empty string
    ('team!=""', False),
    ('team=~".*"', True),
    ('{alertname="HighCPU", env="prod"}', True),
    ('{alertname="HighCPU", env="dev"}', False),
    ('{alertname="HighCPU",}', True),  # one trailing comma
    ("{}", True),
    ('"alertname"="HighCPU"', True),
])
def test_matching(text, matches):
    assert all(m.matches(LABELS) for m in parse_matchers(text)) is matches


def test_quoted_values_use_go_escapes():
    [matcher] = parse_matchers(r'path=~"a\\d+\"q\""')
    assert matcher.value == r'a\d+"q"' and matcher.type is MatchType.REGEX
    assert matcher.matches({"path": 'a12"q"'})


def test_unquoted_values_may_hold_any_character_but_the_reserved_ones():
    [matcher] = parse_matchers("instance=node1:9100/x")
    assert matcher.value == "node1:9100/x"


@pytest.mark.parametrize("text, reason", [
    ("alertname", "expected a matcher"),
    ("alertname=", "expected a matcher"),
    ('a="1" b="2"', "expected ','"),
    ('{a="1"', "missing closing '}'"),
    ('a="1"}', "unexpected '}'"),
    ('a=~"("', "invalid regular expression"),
    ('a=="1"', "expected a value"),
])
def test_errors_say_what_is_wrong_and_where(text, reason):
    with pytest.raises(MatcherError) as raised:
        parse_matchers(text, MatcherSyntax.UTF8)
    assert reason in str(raised.value) and "position" in str(raised.value)


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=20))
def test_a_quoted_equality_matcher_matches_exactly_its_value(value):
    [matcher] = parse_matchers(f"label={json.dumps(value, ensure_ascii=False)}")  # Go has no UTF-16 surrogate escapes
    assert matcher.matches({"label": value})
    assert not matcher.matches({"label": value + "x"})


def test_quoted_values_accept_every_go_escape():
    [matcher] = parse_matchers(r'v="\x41\u00e9\U0001F642\101\a\v\n\t\\\""')
    assert matcher.value == 'A\u00e9\U0001F642A\a\v\n\t\\"'


def test_byte_escapes_must_spell_utf8():
    [matcher] = parse_matchers(r'v="\xc3\xa9"')
    assert matcher.value == "\u00e9"
    with pytest.raises(MatcherError, match="not valid UTF-8"):
        parse_matchers(r'v="\xc3"', MatcherSyntax.UTF8)


@pytest.mark.parametrize("pattern, value, matches", [
    ("x.y", "x\ny", False),  # `.` does not match a newline ...
    ("(?s)x.y", "x\ny", True),  # ... unless the pattern says (?s)
    ("x(?s:.)y", "x\ny", True),
    ("x(?s).y", "x\ny", True),  # flags mid-pattern, as Go allows
    ("a(?i)b|c", "C", True),  # the flag reaches across the alternation, as in Go
    ("a(?i)b|c", "aB", True),
    ("a(?i)b|c", "Ab", False),
    ("\\d+", "\u0663", False),  # \d is ASCII in Go
    ("\\w+", "\u00e9", False),
    ("[[:digit:]]+", "42", True),  # POSIX classes
    ("[[:alpha:]]+", "4", False),
    ("x{,3}", "x{,3}", True),  # not a repeat in Go
    ("(?P<n>a)|(?<m>b)", "b", True),
    ("a\\z", "a", True),
    ("node.*", "node1", True),
    ("node", "node1", False),  # fully anchored
    ("\\p{Greek}+", "\u03b1\u03b2", True),  # Unicode classes
    ("(?U)a+", "aaa", True),  # the ungreedy flag
    ("\\Qa.b\\E", "a.b", True),
    ("\\Qa.b\\E", "axb", False),
])
def test_regexes_match_as_go_matches(pattern, value, matches):
    [matcher] = parse_matchers(f"v=~{json.dumps(pattern)}")
    assert matcher.matches({"v": value}) is matches


@pytest.mark.parametrize("pattern, reason, position", [
    ("a(?=b)", "invalid perl operator: (?=", 1),  # lookahead
    ("(a)\\1", "invalid escape sequence: \\1", 3),  # backreference
    ("(?>a)", "invalid perl operator: (?>", 0),  # atomic group
    ("a\\Z", "invalid escape sequence: \\Z", 1),
    ("x(y", "missing ): x(y", 0),
])
def test_regexes_go_refuses_are_refused_saying_what_and_where(pattern, reason, position):
    with pytest.raises(MatcherError, match="invalid regular expression") as raised:
        parse_matchers(f"v=~{json.dumps(pattern)}")
    assert raised.value.reason == f"invalid regular expression: {reason}" and raised.value.position == position


def test_a_regex_runs_in_time_linear_in_the_value():
    # Python's `re` backtracks on this pattern: 2**40 steps against 40 `a`s and a `!`, holding the
    # interpreter for hours (an API filter sent by any reader). RE2 runs a fixed number of steps per
    # character. In a process of its own, so that a backtracking engine fails here instead of hanging.
    code = ("from correlator.rules.matchers import parse_matchers\n"
            "[m] = parse_matchers('x=~\"(a+)+b\"')\n"
            "print(m.matches({'x': 'a' * 40 + '!'}), m.matches({'x': 'a' * 40 + 'b'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["False", "True"]


def test_matchers_only_the_classic_parser_accepts_load_with_a_warning(caplog):
    assert [str(m) for m in parse_matchers("{foo=bar}}")] == ['foo="bar}"']
    assert "classic parser" in caplog.text and 'write foo="bar}"' in caplog.text
    assert [str(m) for m in parse_matchers("job=")] == ['job=""']
    with pytest.raises(MatcherError):
        parse_matchers("{foo=bar}}", MatcherSyntax.UTF8)


def test_where_the_parsers_disagree_the_utf8_reading_is_kept_with_a_warning(caplog):
    [matcher] = parse_matchers(r'v="a\tb"')
    assert matcher.value == "a\tb"  # the classic parser reads `a\tb`, four characters
    assert "read differently" in caplog.text
    [classic] = parse_matchers(r'v="a\tb"', MatcherSyntax.CLASSIC)
    assert classic.value == "a\\tb"
