"""The `forwarding` section: each error names `forwarding.destinations[NAME].option` and what is
expected; the adapter's own options are checked when the destination is built."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import aiohttp
import pytest
import yaml

from correlator import wiring
from correlator.config import ConfigError, parse_config
from correlator.forward import registry
from correlator.domain import Incident, IncidentState, Priority
from correlator.forward.contract import DestinationError
from correlator.forward.routing import routed
from tests.engine_scenarios import at

ROOT = Path(__file__).resolve().parent.parent
HOOK = {"name": "hook", "type": "webhook", "url": "https://hooks.example.com/x"}


@pytest.mark.parametrize("destination, key, expected", [
    ({"type": "webhook"}, "forwarding.destinations[0].name", "letters, digits"),
    ({**HOOK, "name": "a b"}, "forwarding.destinations[0].name", "letters, digits"),
    ({**HOOK, "type": None}, "forwarding.destinations[hook].type", "the destination's type"),
    ({**HOOK, "match": [3]}, "forwarding.destinations[hook].match", "a list of matchers"),
    ({**HOOK, "rate_limit": -1}, "forwarding.destinations[hook].rate_limit", "deliveries per second"),
    ({**HOOK, "secret": {"env": "NOT_SET_ANYWHERE"}}, "forwarding.destinations[hook].secret",
     "environment variable NOT_SET_ANYWHERE is not set"),
    ("hook", "forwarding.destinations[0]", "Expected `object`, got `str`"),
])
def test_a_bad_destination_is_named(destination, key, expected):
    with pytest.raises(ConfigError) as raised:
        parse_config({"forwarding": {"destinations": [destination]}}, environ={})
    assert raised.value.key == key and expected in str(raised.value)


def test_two_destinations_of_one_name_and_a_bad_external_url_are_refused():
    with pytest.raises(ConfigError) as raised:
        parse_config({"forwarding": {"destinations": [HOOK, HOOK]}}, environ={})
    assert raised.value.key == "forwarding.destinations[hook].name"
    with pytest.raises(ConfigError) as raised:
        parse_config({"forwarding": {"external_url": "correlator.example"}}, environ={})
    assert raised.value.key == "forwarding.external_url"


def test_options_sit_beside_the_core_keys_or_under_options_and_secrets_are_read(monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "whsec_abc")
    config = parse_config({"forwarding": {"destinations": [
        {"name": "a", "type": "webhook", "url": "https://x", "secret": {"env": "HOOK_SECRET"}},
        {"name": "b", "type": "webhook", "match": 'team="db"', "options": {"url": "https://y"}}]}},
        environ={})
    a, b = config.forwarding.destination_configs()
    assert a.options == {"url": "https://x", "secret": "whsec_abc"} and b.options == {"url": "https://y"}
    assert b.match == ['team="db"']


def test_a_matcher_that_does_not_parse_is_named():
    config = parse_config({"forwarding": {"destinations": [{**HOOK, "match": ['priority=~"P1']}]}}, environ={})
    with pytest.raises(ConfigError) as raised:
        wiring.forwarding(config)
    assert raised.value.key == "forwarding.destinations[hook].match"


@pytest.mark.parametrize("options, field, expected", [
    ({"type": "zendesk"}, "type", "unknown destination type 'zendesk'"),
    ({"url": "ftp://x"}, "url", "http:// or https://"),
    ({"urll": "https://x"}, "urll", "unknown field"),
    ({"secret": "s3cret"}, "secret", "whsec_"),
    ({"secret": "whsec_!!"}, "secret", "not valid base64"),
    ({"title": "{{ incident.title"}, "title", "template line 1"),
])
async def test_an_adapters_option_error_names_the_option(options, field, expected):
    kind = options.pop("type", "webhook")
    spec = registry.DestinationSpec("hook", kind, options if "urll" in options else {"url": HOOK["url"], **options})
    async with aiohttp.ClientSession() as http:
        with pytest.raises(DestinationError) as raised:
            registry.build(spec, http)
    assert raised.value.field == field and expected in str(raised.value)
    assert str(raised.value).startswith(f"forwarding.destinations[hook].{field}: ")


def test_match_may_map_fields_to_the_values_they_may_have():
    config = parse_config({"forwarding": {"destinations": [
        {**HOOK, "match": {"priority": ["P1", "P2"], "team": "pay.ments"}}]}}, environ={})
    (route,) = wiring.forwarding(config).routes
    incident = Incident(id="INC-1", state=IncidentState.OPEN, title="t", opened_at=at(0), last_alert_at=at(0),
                        group_key="g", priority=Priority.P2, team="pay.ments")
    assert routed((route,), incident) == ["hook"]
    for other in ({"priority": Priority.P3}, {"team": "payxments"}):  # "." is no wildcard here
        assert routed((route,), dataclasses.replace(incident, **other)) == []
    with pytest.raises(ConfigError) as raised:
        parse_config({"forwarding": {"destinations": [{**HOOK, "match": {"priority": []}}]}}, environ={})
    assert raised.value.key == "forwarding.destinations[hook].match"


def _secrets_from_environment(value, environ: dict[str, str]):
    """The example with each `{env:}` and `{file:}` secret given a value in `environ`."""
    if isinstance(value, dict) and list(value) in (["env"], ["file"]):
        name = value.get("env") or "FILE_" + "".join(c if c.isalnum() else "_" for c in value["file"]).upper()
        # each secret in the shape its option asks for: a URL, else a token as long as a routing key
        environ[name] = "https://hooks.example.com/services/x" if "URL" in name else "0123456789abcdef" * 2
        return {"env": name}
    if isinstance(value, dict):
        return {key: _secrets_from_environment(item, environ) for key, item in value.items()}
    if isinstance(value, list):
        return [_secrets_from_environment(item, environ) for item in value]
    return value


@pytest.mark.parametrize("example", sorted((ROOT / "config" / "examples").glob("forwarding-*.yaml")),
                         ids=lambda path: path.stem)
async def test_each_shipped_example_parses_routes_and_builds_its_destinations(example, monkeypatch):
    environ: dict[str, str] = {}
    document = _secrets_from_environment(yaml.safe_load(example.read_text()), environ)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    forwarding = wiring.forwarding(parse_config(document, environ={}))
    assert forwarding.specs and len(forwarding.routes) == len(forwarding.specs)
    assert {spec.type for spec in forwarding.specs} <= set(registry.ADAPTERS)
    await registry.check(forwarding.specs)
