"""Typed configuration: defaults, the YAML file, `CORRELATOR_<SECTION>_*` environment overrides, validation.

Every error names the key (`server.port`) and says what is expected. Secrets (tokens, passwords,
DSNs) are written inline, as `{env: NAME}` or as `{file: /path}`.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Mapping, Union, get_args, get_origin, get_type_hints

import msgspec
import yaml

from correlator.domain import MAX_SOURCE_LENGTH, Source
from correlator.shipped import default_config_path, shipped_dir
from correlator.units import Seconds as Duration
from correlator.units import parse_size, seconds_from

ENV_PREFIX = "CORRELATOR_"
CONFIG_PATH_ENV = "CORRELATOR_CONFIG"
MIN_BODY_SIZE = 1024  # bytes: one notification of one alert
STORE_SCHEMES = ("sqlite", "postgresql", "postgres")  # the databases the store is built and tested on


class ConfigError(Exception):
    def __init__(self, key: str, message: str):
        super().__init__(f"config error at {key}: {message}" if key else f"config error: {message}")
        self.key, self.message = key, message


class ByteSize(int):
    """Bytes, written `32MiB` or a plain integer."""


class Secret(str):
    """A secret's value; its repr never shows it."""

    def __repr__(self) -> str:
        return "Secret(***)"


class Credential(Secret):
    """A secret that admits requests (token, password, signing key): never empty, since an empty
    one would be matched by an empty `Authorization: Bearer ` header or signed by anyone."""


def _secret(value: Any) -> tuple[Secret, str]:
    """The value and where it came from (for error messages)."""
    if isinstance(value, str):
        return Secret(value), "the value"
    if isinstance(value, dict) and list(value) == ["env"]:
        name = value["env"]
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return Secret(os.environ[name]), f"environment variable {name}"
    if isinstance(value, dict) and list(value) == ["file"]:
        try:
            return Secret(Path(value["file"]).read_text().rstrip("\r\n")), f"secret file {value['file']}"
        except OSError as error:
            raise ValueError(f"cannot read secret file {value['file']}: {error.strerror}") from None
    raise ValueError("expected a string, {env: VARIABLE} or {file: /path/to/secret}")


def _credential(value: Any) -> Credential:
    secret, origin = _secret(value)
    if not secret.strip():
        raise ValueError(f"{origin} is empty or blank; an empty credential would admit anyone")
    return Credential(secret)


def _dec_hook(kind: type, value: Any) -> Any:
    if kind is Duration:
        return seconds_from(value)
    if kind is ByteSize:
        return ByteSize(parse_size(value))
    if kind is Secret:
        return _secret(value)[0]
    if kind is Credential:
        return _credential(value)
    raise NotImplementedError


class _Section(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


Positive = Annotated[int, msgspec.Meta(ge=1)]


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = 9099
    max_body_size: ByteSize = ByteSize(64 * 2**20)
    # Request bodies held in memory at once; over it ingest answers 503 with Retry-After.
    max_body_memory: ByteSize = ByteSize(256 * 2**20)
    # Listening beyond loopback without credentials must be asked for explicitly.
    allow_unauthenticated_remote: bool = False
    shutdown_timeout: Duration = Duration(30)
    # Append every accepted notification to this file in the recording format (input of `replay`).
    record: str = ""


class StoreConfig(_Section):
    url: Secret | None = None
    data_dir: str = ""
    raw_retention: Duration = Duration(7 * 86400)
    # Closed incidents, ended alert episodes and inactive problems older than this are deleted; 0 keeps them.
    history_retention: Duration = Duration(400 * 86400)
    max_pending_alerts: Positive = 200_000


class FlappingConfig(_Section):
    max_changes: Positive = 4  # state changes within `window` that make an alert flapping
    window: Duration = Duration(3600)



class AlertLimitsConfig(_Section):
    """Sizes one alert may have (`ingest.limits`), in characters. An alert over one is rejected alone,
    naming the field: far above what monitoring systems send, low enough that a templating mistake
    (a whole log line in a label) or a hostile sender cannot fill the store and the engine's memory."""

    max_labels: Positive = 128
    max_label_name_length: Positive = 1024
    max_label_value_length: Positive = 16 * 1024
    max_annotations_length: Positive = 256 * 1024  # every annotation's name and value together


# A sender's value as the key of a value map: YAML reads `4: high` with an integer key.
SenderValue = str | int | float


def _text_keys(values: dict[SenderValue, str]) -> dict[str, str]:
    """Sender values as the texts ingest compares them with (`4` -> "4")."""
    return {str(key): value for key, value in values.items()}


class LabelListConfig(_Section):
    """Labels read from the list at `path`: of objects holding a label's name under `name` and its
    value under `value` (Zabbix's `tags: [{tag, value}]`), or of strings cut at the first `split`
    (`["env:prod"]`; a string in place of the list is first cut at `delimiter`, as Datadog's
    `$TAGS` is). A name given twice gets its values sorted and joined with commas."""

    path: str
    name: str = ""
    value: str = ""
    split: str = ""
    delimiter: str = ","

    def __post_init__(self):
        if self.split and (self.name or self.value):
            raise ValueError("name and value read a list of objects, split a list of strings: set one of the two")
        if not self.split and not (self.name and self.value):
            raise ValueError("set name and value (a list of objects) or split (a list of strings)")
        if not self.delimiter:
            raise ValueError("delimiter must not be empty")


class FieldMappingConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Where each alert field lives in a JSON body (`ingest.mappings.<name>`). Paths are dotted
    (`tags.host`, `items[0].id`); a path starting with `$.` is read from the body's root, any other
    from the alert item."""

    alerts: str = "$"  # the list of alerts; "$" alone means the body is one alert
    labels: str = "labels"
    label_lists: list[LabelListConfig] = []
    label_fields: dict[str, str] = {}  # label name -> path of a scalar
    static_labels: dict[str, str] = {}
    label_values: dict[str, dict[SenderValue, str]] = {}  # label name -> {sender's value: label value}
    annotations: str = "annotations"
    annotation_fields: dict[str, str] = {}
    status: str = "status"
    status_values: dict[SenderValue, str] = msgspec.field(
        default_factory=lambda: {"firing": "firing", "resolved": "resolved"})
    starts_at: str = "startsAt"
    ends_at: str = "endsAt"
    generator_url: str = "generatorURL"
    silence_timeout: Duration | None = None  # None: ingest.silence_timeout; 0: never

    def __post_init__(self):
        msgspec.structs.force_setattr(self, "status_values", _text_keys(self.status_values))
        msgspec.structs.force_setattr(self, "label_values", {
            name: _text_keys(values) for name, values in self.label_values.items()})


class IngestConfig(_Section):
    resolve_timeout: Duration = Duration(300)
    silence_timeout: Duration = Duration(86400)  # generic sources; a mapping's own applies first; 0: never
    label_names: Literal["utf8", "classic"] = "utf8"
    flapping: FlappingConfig = FlappingConfig()
    limits: AlertLimitsConfig = AlertLimitsConfig()
    # Source (alertmanager, prometheus, generic or a mapping's name) -> labels its fingerprints leave out.
    fingerprint_ignore_labels: dict[str, list[str]] = {}
    mappings: dict[str, FieldMappingConfig] = {}


class ApiConfig(_Section):
    # How long an operator action's request waits for the engine to apply it; past it the answer
    # is 202 with the address of its result. A listing of alerts waits as long at most for the
    # engine to read what was stored before it (the alerts view is the engine's).
    action_wait: Duration = Duration(5)


class BasicCredential(_Section):
    username: str
    password: Credential


class HmacConfig(_Section):
    secret: Credential
    header: str = "X-Grafana-Alert-Signature"
    timestamp_header: str = ""


class AuthConfig(_Section):
    bearer_tokens: list[Credential] = []
    basic_auth: list[BasicCredential] = []
    hmac: HmacConfig | None = None

    @property
    def has_credentials(self) -> bool:
        return bool(self.bearer_tokens or self.basic_auth or self.hmac)


class AuthSection(_Section):
    default: AuthConfig = AuthConfig()
    alertmanager: AuthConfig | None = None
    prometheus: AuthConfig | None = None
    generic: AuthConfig | None = None
    api: AuthConfig | None = None
    # Credentials that read the API (and the board) but may not act: their writes are answered 403.
    read_only: AuthConfig = AuthConfig()

    def for_endpoint(self, name: Literal["alertmanager", "prometheus", "generic", "api"]) -> AuthConfig:
        own = getattr(self, name)
        return own if own is not None else self.default


class BoardConfig(_Section):
    """The web board at `/`: people log in with the API's credentials (or `auth.read_only`'s)."""

    enabled: bool = True
    # Signs the session cookies; give the same one to every replica. Default: a random key at each
    # start (sessions end when the daemon restarts).
    session_secret: Credential | None = None
    session_lifetime: Duration = Duration(12 * 3600)
    # Mark the cookie Secure (sent over HTTPS only): set it when a TLS proxy fronts the daemon.
    secure_cookie: bool = False


class ProblemConfig(_Section):
    recurrences: Annotated[int, msgspec.Meta(ge=2)] = 3  # incidents of one signature that make a problem
    period: Duration = Duration(7 * 86400)


def _hours(**durations: float) -> dict[str, Duration]:
    return {priority: Duration(hours * 3600) for priority, hours in durations.items()}


class SlaConfig(_Section):
    """Targets per priority; a later acknowledgement or resolution counts as an SLA breach."""

    acknowledge: dict[Literal["P1", "P2", "P3", "P4", "P5"], Duration] = msgspec.field(
        default_factory=lambda: _hours(P1=0.25, P2=0.5, P3=4, P4=24, P5=72))
    resolve: dict[Literal["P1", "P2", "P3", "P4", "P5"], Duration] = msgspec.field(
        default_factory=lambda: _hours(P1=4, P2=8, P3=72, P4=168, P5=336))

    def due(self, opened_at: datetime, priority: str) -> dict[str, datetime | None]:
        """When an incident opened at `opened_at` must be acknowledged and resolved, by its priority."""
        return {f"{target}_due": opened_at + timedelta(seconds=limits[priority]) if priority in limits else None
                for target, limits in (("acknowledge", self.acknowledge), ("resolve", self.resolve))}


class EngineConfig(_Section):
    resolve_hold: Duration = Duration(300)
    # A flapping alert (ingest.flapping) keeps its incident open this long after its alerts cleared.
    flap_hold: Duration = Duration(3600)
    reopen_window: Duration = Duration(1800)
    close_after: Duration = Duration(86400)
    problems: ProblemConfig = ProblemConfig()
    sla: SlaConfig = SlaConfig()


Probability = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class ClassificationConfig(_Section):
    enabled: bool = True
    low_confidence: Probability = 0.6


class MlConfig(_Section):
    """The trained model. Rules always decide first; the model only classifies what no rule did."""

    enabled: bool = True
    model_dir: str = ""  # default: the model shipped with correlator
    classification: ClassificationConfig = ClassificationConfig()


class PlacementSourceConfig(_Section):
    """A Prometheus that scrapes a cluster's kube-state-metrics: where that cluster's pods run
    (`kube_pod_info`), read every `learning.placements_every` (correlator/placements.py)."""

    url: str  # its base URL, http:// or https://
    # The value of the cluster label the cluster's alerts carry; "": each series' own cluster label
    # (a Thanos or Mimir view of several clusters), or none where it has none.
    cluster: str = ""
    query: str = "kube_pod_info"  # PromQL whose series name a namespace, a pod and its node
    bearer_token: Secret | None = None  # sent as `Authorization: Bearer` where the Prometheus asks for one


class LearningConfig(_Section):
    """What the engine learns of the estate online (topology, co-occurrence) and joins on."""

    enabled: bool = True
    save_every: Duration = Duration(300)  # event time between saves of the learned state
    placements: list[PlacementSourceConfig] = []
    placements_every: Duration = Duration(60)


class LogConfig(_Section):
    format: Literal["logfmt", "json"] = "logfmt"
    level: Literal["debug", "info", "warning", "error"] = "info"


class RulesConfig(_Section):
    dir: str = ""
    # Alertmanager's matcher parsers: UTF-8 with the classic fallback (its default since 0.27),
    # UTF-8 only (`--enable-feature=utf8-strict-mode`) or classic only (`classic-mode`).
    matcher_parser: Literal["fallback", "utf8", "classic"] = "fallback"


DESTINATION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # it is a path segment and a label value
# The keys of a destination the core reads; every other key (or those under `options:`) is the
# adapter's, checked by the adapter when the destination is built.
DESTINATION_KEYS = ("name", "type", "match", "rate_limit", "options")


class DestinationConfig(msgspec.Struct, frozen=True):
    name: str
    type: str
    # Alertmanager matchers over the incident's fields and shared labels, ANDed; or field or label ->
    # the values it may have (each field one of its values)
    match: list[str] | dict[str, list[str]] = []
    rate_limit: float = 0.0  # deliveries per second; 0: unlimited
    options: dict[str, Any] = {}


class ForwardingConfig(_Section):
    """Incidents forwarded to ticketing, paging and webhooks (docs/forwarding.md)."""

    external_url: str = ""  # where people reach this daemon: links back to incidents
    retry_first: Duration = Duration(1)
    retry_max: Duration = Duration(300)
    timeout: Duration = Duration(30)  # one delivery
    concurrency: Positive = 8  # deliveries at once per destination
    delivered_retention: Duration = Duration(7 * 86400)  # delivered changes and inbound event ids kept
    destinations: list[dict[str, Any]] = []

    def destination_configs(self) -> list[DestinationConfig]:
        """The destinations as checked by parse_config."""
        return [_destination(index, raw) for index, raw in enumerate(self.destinations)]


def _resolved(value: Any) -> Any:
    """Option values with `{env: NAME}` and `{file: /path}` secrets read."""
    if isinstance(value, dict) and (list(value) == ["env"] or list(value) == ["file"]):
        return str(_secret(value)[0])
    if isinstance(value, dict):
        return {key: _resolved(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item) for item in value]
    return value


def _destination(index: int, raw: dict[str, Any]) -> DestinationConfig:
    name = raw.get("name")
    if not isinstance(name, str) or not DESTINATION_NAME.match(name):
        raise ConfigError(f"forwarding.destinations[{index}].name", "expected a name of letters, digits, '_', "
                                                                    "'.' and '-' (at most 64 characters)")
    key = f"forwarding.destinations[{name}]"
    if not isinstance(raw.get("type"), str):
        raise ConfigError(f"{key}.type", "expected the destination's type (webhook, jira, servicenow, ...)")
    match = raw.get("match", [])
    if isinstance(match, str):
        match = [match]
    if isinstance(match, dict):  # {field or label: a value or a list of values}
        match = {name: values if isinstance(values, list) else [values] for name, values in match.items()}
        if not all(isinstance(name, str) and values and all(isinstance(v, (str, int)) and not isinstance(v, bool)
                                                                for v in values) for name, values in match.items()):
            raise ConfigError(f"{key}.match", "expected each field or label to map to a value or a list of values")
        match = {name: [str(v) for v in values] for name, values in match.items()}
    elif not isinstance(match, list) or not all(isinstance(m, str) for m in match):
        raise ConfigError(f"{key}.match", "expected a list of matchers such as 'priority=~\"P1|P2\"', or a "
                                          "mapping of fields to values such as {priority: [P1, P2]}")
    rate = raw.get("rate_limit", 0)
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or rate < 0:
        raise ConfigError(f"{key}.rate_limit", "expected deliveries per second (0: unlimited)")
    options = raw.get("options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"{key}.options", "expected a mapping of the destination's options")
    options = {**options, **{k: v for k, v in raw.items() if k not in DESTINATION_KEYS}}
    for option, value in options.items():
        try:
            options[option] = _resolved(value)
        except ValueError as error:
            raise ConfigError(f"{key}.{option}", str(error)) from None
    return DestinationConfig(name, raw["type"], match, float(rate), options)


class Config(_Section):
    server: ServerConfig = ServerConfig()
    store: StoreConfig = StoreConfig()
    ingest: IngestConfig = IngestConfig()
    auth: AuthSection = AuthSection()
    api: ApiConfig = ApiConfig()
    board: BoardConfig = BoardConfig()
    engine: EngineConfig = EngineConfig()
    log: LogConfig = LogConfig()
    rules: RulesConfig = RulesConfig()
    ml: MlConfig = MlConfig()
    learning: LearningConfig = LearningConfig()
    forwarding: ForwardingConfig = ForwardingConfig()

    @property
    def data_dir(self) -> Path:
        if self.store.data_dir:
            return Path(self.store.data_dir).expanduser()
        base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        return Path(base) / "correlator"

    @property
    def model_dir(self) -> Path:
        return Path(self.ml.model_dir).expanduser() if self.ml.model_dir else shipped_dir("models")

    @property
    def rules_dir(self) -> Path:
        return Path(self.rules.dir).expanduser() if self.rules.dir else shipped_dir("rules")

    @property
    def database_url(self) -> str:
        return self.store.url or f"sqlite:///{self.data_dir / 'correlator.db'}"


def _env_path(struct: type, words: list[str], variable: str) -> list[str]:
    """Resolve `SERVER_MAX_BODY_SIZE` to ["server", "max_body_size"] against the schema."""
    hints = get_type_hints(struct)
    for width in range(len(words), 0, -1):
        name = "_".join(words[:width]).lower()
        if name in hints:
            rest = words[width:]
            if not rest:
                return [name]
            inner = hints[name]
            inner = next((arg for arg in get_args(inner) if isinstance(arg, type)
                          and issubclass(arg, msgspec.Struct)), inner)
            if isinstance(inner, type) and issubclass(inner, msgspec.Struct):
                return [name, *_env_path(inner, rest, variable)]
    raise ConfigError(variable, "no such configuration key; see config/correlator.yaml for the keys")


def _override_words(variable: str) -> list[str] | None:
    """The key path's words when `variable` overrides a key: `CORRELATOR_` then a section's name
    (`CORRELATOR_SERVER_PORT`). Other `CORRELATOR_*` variables, such as a token the config reads
    with `{env: CORRELATOR_TOKEN}`, are the user's own and not overrides."""
    if not variable.startswith(ENV_PREFIX) or variable == CONFIG_PATH_ENV:
        return None
    words = variable[len(ENV_PREFIX):].split("_")
    return words if words[0].lower() in Config.__struct_fields__ else None


def _apply_environment(document: dict, environ: Mapping[str, str], overrides: dict[str, str]) -> dict:
    """`document` with the CORRELATOR_<SECTION>_<KEY> variables applied; `overrides` gets each
    dotted key set so -> its variable."""
    for variable, text in sorted(environ.items()):
        words = _override_words(variable)
        if words is None:
            continue
        path = _env_path(Config, words, variable)
        overrides[".".join(path)] = variable
        node = document
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        try:
            node[path[-1]] = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            node[path[-1]] = text
    return document


_KEY_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\.\.\.\]")


def _struct_in(kind: Any) -> Any:
    """`Section | None` -> Section; any other type as it is."""
    if get_origin(kind) not in (Union, UnionType):
        return kind
    return next((arg for arg in get_args(kind) if isinstance(arg, type) and issubclass(arg, msgspec.Struct)), kind)


def _converts(value: Any, kind: Any) -> bool:
    try:
        msgspec.convert(value, kind, dec_hook=_dec_hook)
    except (msgspec.ValidationError, ValueError):
        return False
    return True


def _named_keys(path: str, document: Any) -> str:
    """msgspec's path with each `[...]` (a mapping key it does not name) replaced by the key whose
    value fails: `ingest.mappings[...].label_values` -> `ingest.mappings.zabbix.label_values`."""
    kind: Any = Config
    node, key = document, ""
    for match in _KEY_SEGMENT.finditer(path):
        name, index = match.groups()
        kind = _struct_in(kind)
        if name is not None:
            struct = isinstance(kind, type) and issubclass(kind, msgspec.Struct)
            kind = get_type_hints(kind).get(name) if struct else None
            node, key = node.get(name) if isinstance(node, dict) else None, f"{key}.{name}"
        elif index is not None:
            kind = next(iter(get_args(kind)), None)
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else None
            key = f"{key}[{index}]"
        else:
            kind = get_args(kind)[-1] if get_args(kind) else None
            failing = next((name for name, value in node.items() if not _converts(value, kind)), None) \
                if isinstance(node, dict) and kind is not None else None
            if failing is None:
                return f"{key}{path[match.start():]}".lstrip(".")
            node, key = node[failing], f"{key}.{failing}"
    return key.lstrip(".")


def _key_of(error: msgspec.ValidationError, document: Any) -> tuple[str, str]:
    text = str(error)
    reason, _, where = text.rpartition(" - at `$")
    if not reason:  # at the top of the file
        reason, where = text, ""
    key = _named_keys(where.rstrip("`"), document)
    if reason.startswith("Object contains unknown field `"):
        unknown = reason.split("`")[1]
        return f"{key}.{unknown}" if key else unknown, "unknown key (check its spelling and section)"
    return key, reason


def check_store_url(url: str, key: str) -> None:
    """A store URL (`key`: where it was given) names a database the store runs on."""
    scheme = url.partition(":")[0]
    if scheme.partition("+")[0] not in STORE_SCHEMES:
        raise ConfigError(key, f"expected sqlite:///PATH or postgresql://USER@HOST/DATABASE, got {scheme!r}")


def parse_config(document: Any, environ: Mapping[str, str] | None = None) -> Config:
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError("", "the file must hold a YAML mapping of sections (server, store, ingest, ...)")
    overrides: dict[str, str] = {}
    document = _apply_environment(document, os.environ if environ is None else environ, overrides)
    try:
        return _checked(document)
    except ConfigError as error:  # a value an environment variable set: name the variable too
        variable = overrides.get(error.key)
        if variable is None or variable in error.message:
            raise
        raise ConfigError(error.key, f"{error.message} (set by {variable})") from None


def _checked(document: dict) -> Config:
    try:
        config = msgspec.convert(document, Config, dec_hook=_dec_hook)
    except msgspec.ValidationError as error:
        raise ConfigError(*_key_of(error, document)) from None
    if not 0 < config.server.port < 65536:
        raise ConfigError("server.port", f"expected a TCP port between 1 and 65535, got {config.server.port}")
    if config.server.max_body_size < MIN_BODY_SIZE:
        raise ConfigError("server.max_body_size", f"expected at least 1KiB: no notification fits in "
                                                   f"{config.server.max_body_size} bytes")
    if config.server.max_body_memory < config.server.max_body_size:
        raise ConfigError("server.max_body_memory", f"must be at least server.max_body_size "
                                                     f"({config.server.max_body_size} bytes)")
    if not config.ingest.resolve_timeout:
        raise ConfigError("ingest.resolve_timeout", "expected more than 0s: an alert without endsAt would be "
                                                    "resolved as it arrives")
    if 0 < config.store.history_retention < config.engine.problems.period:
        raise ConfigError("store.history_retention", f"expected 0 (keep everything) or at least engine.problems.period "
                                                     f"({config.engine.problems.period:g}s): a problem counts the "
                                                     f"incidents opened within that period")
    if config.store.url:
        check_store_url(config.store.url, "store.url")
    for name, mapping in config.ingest.mappings.items():
        if len(name) > MAX_SOURCE_LENGTH:  # the name is stored as each alert's source
            raise ConfigError(f"ingest.mappings.{name}", f"a mapping name has at most {MAX_SOURCE_LENGTH} characters")
        if name in (Source.ACTION, Source.PLACEMENT):  # the sources of the log's rows without alerts
            raise ConfigError(f"ingest.mappings.{name}",
                              f"{name!r} is reserved for {'operator actions' if name == Source.ACTION else 'placements'}")
        bad = [value for value in mapping.status_values.values() if value not in ("firing", "resolved")]
        if bad:
            raise ConfigError(f"ingest.mappings.{name}.status_values",
                              f"values must be firing or resolved, got {bad[0]!r}")
    names = [destination.name for destination in config.forwarding.destination_configs()]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"forwarding.destinations[{name}].name", "two destinations have this name")
    for index, source in enumerate(config.learning.placements):
        if not source.url.startswith(("http://", "https://")):
            raise ConfigError(f"learning.placements[{index}].url", "expected an http:// or https:// URL")
    if config.learning.placements_every < 1:
        raise ConfigError("learning.placements_every", "expected at least 1s: each reading asks every source")
    if config.forwarding.external_url and not config.forwarding.external_url.startswith(("http://", "https://")):
        raise ConfigError("forwarding.external_url", "expected an http:// or https:// URL")
    sources = {*Source, *config.ingest.mappings} - {Source.ACTION, Source.PLACEMENT}
    for source in config.ingest.fingerprint_ignore_labels:
        if source not in sources:
            raise ConfigError(f"ingest.fingerprint_ignore_labels.{source}",
                              f"no such source; expected one of {', '.join(sorted(sources))}")
    return config


def load_config(path: Path | None, environ: Mapping[str, str] | None = None) -> tuple[Config, Path | None]:
    """Load the file (the shipped default when `path` is None and CORRELATOR_CONFIG is unset)."""
    environ = os.environ if environ is None else environ
    if path is None and environ.get(CONFIG_PATH_ENV):
        path = Path(environ[CONFIG_PATH_ENV])
    if path is None:
        path = default_config_path()
        if not path.is_file():
            return parse_config({}, environ), None
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError("", f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError("", f"{where}: invalid YAML: {getattr(error, 'problem', error)}") from None
    return parse_config(document, environ), path
