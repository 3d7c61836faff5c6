"""Matchers behave as Alertmanager documents them (docs/configuration.md "Label matchers")."""

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
    import json
    [matcher] = parse_matchers(f"label={json.dumps(value, ensure_ascii=False)}")  # Go has no UTF-16 surrogate escapes
    assert matcher.matches({"label": value})
    assert not matcher.matches({"label": value + "x"})
