"""Configuration: defaults, file, environment, secrets, and errors that name the key."""

from pathlib import Path

import pytest

from correlator import wiring
from correlator.cli import check_exposure
from correlator.config import ConfigError, load_config, parse_config
from correlator.ingest.generic import FieldMapping
from correlator.ingest.normalize import IngestPolicy
from correlator.rules.loader import RuleErrors, load_rules
from correlator.shipped import default_config_path


def test_the_shipped_config_documents_the_defaults():
    shipped, path = load_config(default_config_path(), environ={})
    assert path == default_config_path()
    assert shipped == parse_config({}, environ={})
    assert shipped.server.host == "127.0.0.1" and shipped.server.max_body_size >= 32 * 2**20


def test_every_section_key_of_the_shipped_file_is_commented():
    lines = default_config_path().read_text().splitlines()
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and stripped.endswith(":") and line.startswith("  ") \
                and not line.startswith("    "):
            previous = lines[number - 1].strip()
            assert previous.startswith("#") or "#" in line, f"line {number + 1} ({stripped}) has no comment"


def test_environment_overrides_the_file():
    config = parse_config({"server": {"port": 1000}},
                          environ={"CORRELATOR_SERVER_PORT": "2000", "CORRELATOR_STORE_RAW_RETENTION": "1d",
                                   "CORRELATOR_INGEST_FLAPPING_MAX_CHANGES": "9"})
    assert config.server.port == 2000
    assert config.store.raw_retention == 86400
    assert config.ingest.flapping.max_changes == 9


def test_silence_timeouts_and_the_flap_hold_reach_ingest_and_the_engine():
    config = parse_config({"ingest": {"silence_timeout": "2h", "flapping": {"max_changes": 6, "window": "30m"},
                                      "mappings": {"script": {"silence_timeout": "10m"}}},
                           "engine": {"flap_hold": "45m"}}, environ={})
    assert wiring.ingest_policy(config).silence_timeout.total_seconds() == 7200
    assert wiring.field_mappings(config)["script"].silence_timeout == 600
    settings = wiring.engine_settings(config)
    assert (settings.flap_changes, settings.flap_window.total_seconds(), settings.flap_hold.total_seconds()) \
        == (6, 1800, 2700)
    assert wiring.ingest_policy(parse_config({"ingest": {"silence_timeout": 0}}, environ={})).silence_timeout is None


def test_a_mappings_numeric_sender_values_reach_ingest_as_text():
    # YAML reads `4: high` with an integer key; ingest compares the sender's value as text.
    config = parse_config({"ingest": {"mappings": {"zabbix": {
        "label_values": {"severity": {4: "high"}}, "status_values": {1: "firing", 0: "resolved"}}}}}, environ={})
    mapping = wiring.field_mappings(config)["zabbix"]
    assert mapping.label_values == {"severity": {"4": "high"}}
    assert mapping.status_values == {"1": "firing", "0": "resolved"}


def test_the_configs_ingest_defaults_are_ingests_own():
    config = parse_config({"ingest": {"mappings": {"bare": {}}}}, environ={})
    assert wiring.ingest_policy(config) == IngestPolicy()
    assert wiring.field_mappings(config)["bare"] == FieldMapping()


def test_a_correlator_variable_that_names_no_section_is_the_users_own(monkeypatch):
    # The README's quickstart: a token in CORRELATOR_TOKEN, read by the config file.
    monkeypatch.setenv("CORRELATOR_TOKEN", "s3cret")
    config = parse_config({"auth": {"default": {"bearer_tokens": [{"env": "CORRELATOR_TOKEN"}]}}},
                          environ={"CORRELATOR_TOKEN": "s3cret", "CORRELATOR_SERVER_PORT": "2000"})
    assert config.auth.default.bearer_tokens == ["s3cret"] and config.server.port == 2000


def test_environment_fills_a_section_the_file_left_empty():
    config = parse_config({"auth": {"alertmanager": None}},
                          environ={"CORRELATOR_AUTH_ALERTMANAGER_BEARER_TOKENS": "[tok1, tok2]"})
    assert config.auth.for_endpoint("alertmanager").bearer_tokens == ["tok1", "tok2"]
    assert not config.auth.for_endpoint("prometheus").has_credentials


def test_secrets_come_from_env_or_file(tmp_path, monkeypatch):
    secret_file = tmp_path / "token"
    secret_file.write_text("from-file\n")
    monkeypatch.setenv("AM_TOKEN", "from-env")
    monkeypatch.setenv("DB_URL", "postgresql://correlator:s3cret@127.0.0.1/correlator")
    config = parse_config({"auth": {"default": {"bearer_tokens": [{"env": "AM_TOKEN"}, {"file": str(secret_file)}],
                                                "basic_auth": [{"username": "am", "password": "inline"}]}},
                           "store": {"url": {"env": "DB_URL"}}}, environ={})
    assert config.auth.default.bearer_tokens == ["from-env", "from-file"]
    assert config.store.url == "postgresql://correlator:s3cret@127.0.0.1/correlator"
    assert "from-env" not in repr(config.auth.default)


@pytest.mark.parametrize("document, environ, key, expected", [
    ({"server": {"port": "http"}}, {}, "server.port", "Expected `int`, got `str`"),
    ({"server": {"port": 0}}, {}, "server.port", "between 1 and 65535"),
    ({"ingest": {"flapping": {"max_changes": -1}}}, {}, "ingest.flapping.max_changes", "Expected `int` >= 1"),
    ({"engine": {"problems": {"recurrences": 1}}}, {}, "engine.problems.recurrences", "Expected `int` >= 2"),
    ({"store": {"max_pending_alerts": 0}}, {}, "store.max_pending_alerts", "Expected `int` >= 1"),
    ({"server": {"prot": 1}}, {}, "server.prot", "unknown key"),
    ({"ingest": {"resolve_timeout": "5 minutes"}}, {}, "ingest.resolve_timeout", "such as 30s, 5m"),
    ({"server": {"max_body_size": "lots"}}, {}, "server.max_body_size", "MiB"),
    ({"ingest": {"label_names": "ascii"}}, {}, "ingest.label_names", "Invalid enum value 'ascii'"),
    ({"auth": {"default": {"bearer_tokens": [{"env": "NOT_SET_ANYWHERE"}]}}}, {},
     "auth.default.bearer_tokens[0]", "environment variable NOT_SET_ANYWHERE is not set"),
    ({"auth": {"default": {"bearer_tokens": [{"file": "/nonexistent/token"}]}}}, {},
     "auth.default.bearer_tokens[0]", "cannot read secret file"),
    ({"ingest": {"mappings": {"x": {"status_values": {"ok": "fine"}}}}}, {},
     "ingest.mappings.x.status_values", "firing or resolved"),
    ({}, {"CORRELATOR_SERVER_PROT": "1"}, "CORRELATOR_SERVER_PROT", "no such configuration key"),
    ({"ingest": {"fingerprint_ignore_labels": {"prom": ["replica"]}}}, {}, "ingest.fingerprint_ignore_labels.prom",
     "no such source; expected one of alertmanager, generic, prometheus"),
    ({"ingest": {"limits": {"max_labels": 0}}}, {}, "ingest.limits.max_labels", "Expected `int` >= 1"),
    # msgspec names no mapping key ("ingest.mappings[...]"): the error does.
    ({"ingest": {"mappings": {"ok": {}, "grafana": {"lables": "labels"}}}}, {}, "ingest.mappings.grafana.lables",
     "unknown key"),
    ({"ingest": {"mappings": {"zabbix": {"label_lists": [{"path": "tags", "name": "tag"}]}}}}, {},
     "ingest.mappings.zabbix.label_lists[0]", "set name and value (a list of objects) or split"),
    ({"ingest": {"mappings": {"dd": {"label_lists": [{"path": "tags", "split": ":", "value": "v"}]}}}}, {},
     "ingest.mappings.dd.label_lists[0]", "set one of the two"),
    ({"ingest": {"mappings": {"zabbix": {"label_values": {"severity": {3: "average", 4: 4}}}}}}, {},
     "ingest.mappings.zabbix.label_values.severity.4", "Expected `str`, got `int`"),
    ({"ingest": {"limits": {"max_label_size": 9}}}, {}, "ingest.limits.max_label_size", "unknown key"),
    ({"engine": {"resolve_hold": 300}}, {}, "engine.resolve_hold", "got the bare number 300"),
    ({}, {"CORRELATOR_ENGINE_RESOLVE_HOLD": "300"}, "engine.resolve_hold", "not taken as seconds"),
    ({"ingest": {"resolve_timeout": "300y"}}, {}, "ingest.resolve_timeout", "out of range"),
    ({"rules": {"matcher_parser": "strict"}}, {}, "rules.matcher_parser", "Invalid enum value 'strict'"),
    ({"ingest": {"mappings": {"action": {}}}}, {}, "ingest.mappings.action", "reserved for operator actions"),
    ({"api": {"action_wait": "-1s"}}, {}, "api.action_wait", "invalid duration"),
    ({"ingest": {"mappings": {"placement": {}}}}, {}, "ingest.mappings.placement", "reserved for placements"),
    ({"learning": {"placements": [{"url": "prometheus:9090"}]}}, {}, "learning.placements[0].url",
     "http:// or https://"),
    ({"learning": {"placements_every": "0s"}}, {}, "learning.placements_every", "at least 1s"),
    ({"server": {"max_body_size": 0}}, {}, "server.max_body_size", "expected at least 1KiB"),
    ({"ingest": {"resolve_timeout": "0s"}}, {}, "ingest.resolve_timeout", "resolved as it arrives"),
    ({"store": {"url": "mysql://db/correlator"}}, {}, "store.url", "postgresql://USER@HOST/DATABASE, got 'mysql'"),
    ({"rules_dir": "/etc/rules"}, {}, "rules_dir", "unknown key (check its spelling and section)"),
    ({"store": {"history_retention": "1d"}}, {}, "store.history_retention",
     "expected 0 (keep everything) or at least engine.problems.period (604800s)"),
    ({}, {"CORRELATOR_SERVER_PORT": "0"}, "server.port", "between 1 and 65535, got 0 (set by CORRELATOR_SERVER_PORT)"),
    ({}, {"CORRELATOR_SERVER_PORT": "http"}, "server.port", "got `str` (set by CORRELATOR_SERVER_PORT)"),
])
def test_bad_config_names_the_key_and_what_is_expected(document, environ, key, expected):
    with pytest.raises(ConfigError) as raised:
        parse_config(document, environ=environ)
    assert raised.value.key == key and expected in str(raised.value)


def test_invalid_yaml_reports_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("server:\n  port: 1\n  host: [\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    assert f"{path}:" in str(raised.value) and "invalid YAML" in str(raised.value)


def test_config_path_comes_from_the_environment(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("server: {port: 7777}\n")
    config, used = load_config(None, environ={"CORRELATOR_CONFIG": str(path)})
    assert used == Path(path) and config.server.port == 7777


def test_listening_beyond_loopback_without_credentials_is_refused():
    with pytest.raises(ConfigError) as raised:
        check_exposure(parse_config({"server": {"host": "0.0.0.0"}}, environ={}))
    assert "refusing to listen on 0.0.0.0" in str(raised.value)
    check_exposure(parse_config({"server": {"host": "::1"}}, environ={}))
    check_exposure(parse_config({"server": {"host": "0.0.0.0", "allow_unauthenticated_remote": True}}, environ={}))
    check_exposure(parse_config({"server": {"host": "0.0.0.0"},
                                 "auth": {"default": {"bearer_tokens": ["t"]}}}, environ={}))


def test_one_open_endpoint_is_enough_to_refuse():
    config = parse_config({"server": {"host": "10.0.0.1"},
                           "auth": {"default": {"bearer_tokens": ["t"]}, "api": {}}}, environ={})
    with pytest.raises(ConfigError) as raised:
        check_exposure(config)
    assert "while api accept" in str(raised.value)


@pytest.mark.parametrize("parser, loads", [("fallback", True), ("classic", True), ("utf8", False)])
def test_the_matcher_parser_is_chosen_as_alertmanager_feature_flags_choose_it(tmp_path, parser, loads):
    """`foo=` only Alertmanager's classic parser accepts: loaded by default (the fallback) and in
    classic mode, refused with the rule named in UTF-8 strict mode, also on a reload."""
    (tmp_path / "rules.yaml").write_text("version: 1\nrules:\n- {name: g, kind: group, matchers: ['foo='], "
                                         "group_by: [foo]}\n")
    config = parse_config({"rules": {"dir": str(tmp_path), "matcher_parser": parser}}, environ={})
    if loads:
        rules = wiring.load_rules(config)
        assert str(rules.groups[0].matchers[0]) == 'foo=""'
        assert load_rules(tmp_path, rules.matcher_syntax) == rules  # a reload reads them the same way
    else:
        with pytest.raises(RuleErrors, match=r"rules\[0\]\.matchers"):
            wiring.load_rules(config)
    assert parse_config({}, environ={"CORRELATOR_RULES_MATCHER_PARSER": parser}).rules.matcher_parser == parser
