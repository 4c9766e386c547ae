"""The engine's configuration: one TOML file, validated completely before anything starts.

Engine-facing API::

    cfg = load_config("pyengine.toml")       # Config; raises ConfigError (a UserError)
    cfg = load_config(path, resolve_secrets=False)   # structure only (no env / AWS look-ups)
    cfg = default_config()                    # paper trading on the simulator, no file
    cfg.venue.kind, cfg.venue.endpoints()     # kind: "sim" | "testnet" | "production" | "demo";
                                              # venue.binance.endpoints.Endpoints | None (sim)
    cfg.venue.api_key.reveal()                # str; Secret never shows its value otherwise
    cfg.universe.symbols, cfg.selection, cfg.strategies[i].pine (absolute Path)
    cfg.ledger.warmup_bars, cfg.ledger.warmup_weight_per_minute, cfg.ledger.capacity
    cfg.journal.path, cfg.journal.synchronous
    cfg.risk                                  # risk.config.RiskConfig (parsed by risk/)
    cfg.telemetry                             # pyengine.telemetry.config.TelemetryConfig
                                              # (sinks, alerts, telegram, webhook, dashboard)

Every error names the file and the dotted key (``pyengine.toml:venue.kind: ...``); all errors
of a file are reported at once. Unknown keys get a did-you-mean.

Secrets are never written in the file. A secret-valued key holds a reference:
``"env:NAME"`` (environment variable) or ``"aws:SECRET_ID"`` / ``"aws:SECRET_ID#FIELD"``
(AWS Secrets Manager ``GetSecretValue``; ``#FIELD`` picks a key of a JSON secret; region from
``[secrets] aws_region`` or the usual AWS environment). A ``Secret`` prints as its reference,
never its value, in repr, logs and errors. Venues other than the simulator need
``venue.api_key`` and ``venue.private_key``; when absent they default to
``env:BINANCE_API_KEY`` and ``env:BINANCE_PRIVATE_KEY``, so a missing one is reported by the
name of the environment variable to set.

The schema is the dataclasses below: field names are the TOML keys, field types are checked,
``metadata={"choices": ...}`` restricts strings, ``metadata={"path": True}`` resolves a path
relative to the config file's directory, and ``metadata={"parse": f}`` hands a whole section to
the subsystem that owns it (``[risk]``, ``[telemetry]``), whose errors are reported the same way.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import pathlib
import tomllib
import types
import typing
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Mapping

from pyengine.errors import UserError
from pyengine.ledger import INTERVAL_MS, KLINES_WEIGHT
from pyengine.venue.binance.endpoints import Endpoints, by_name as endpoints_by_name

DEFAULT_UNIVERSE = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT", "ZECUSDT"]
INTERVALS = list(INTERVAL_MS)      # the kline ledger's (Binance's, without the calendar month)
VENUE_KINDS = ["sim", "testnet", "production", "demo"]
BINANCE_WEIGHT_PER_MINUTE = 6000   # REQUEST_WEIGHT per IP and minute (protocol digest 4.4)
# Why the engine refuses risk.stop_mode = "exchange" (the risk manager and the simulator
# support STOP_LOSS_LIMIT stops; the engine's order flow does not manage resting sells yet).
EXCHANGE_STOPS_REFUSED = (
    "\"exchange\" is refused by the engine: a resting STOP_LOSS_LIMIT sell locks the coins, so "
    "every strategy or risk exit (market sells) would first have to cancel it and wait for the "
    "answer, one stop's fills would have to be split between the strategies holding the "
    "position, and stops would have to be resized as partial fills grow a position, kept "
    "through shutdown and adopted as protective orders after a crash; none of that is built. "
    "Use stop_mode = \"engine\": the risk manager checks every mark (at most every 200 ms) "
    "against the stop and sells at market, its sizing already counting the slippage floor; "
    "the strategies' strategy.exit legs (stops, take-profits, trailing stops) are engine-side "
    "too, checked on every trade")


class ConfigError(UserError):
    """One or more configuration problems, one ``file:key: message`` per line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems)
                         if len(problems) > 1 else problems[0])


class Secret:
    """A reference to a secret (``env:NAME`` or ``aws:ID[#FIELD]``) and, once resolved, its
    value. Only ``reveal()`` gives the value out; it is not printable, comparable or picklable."""

    __slots__ = ("ref", "_value")

    def __init__(self, ref: str):
        kind, _, rest = ref.partition(":")
        if kind not in ("env", "aws") or not rest or (kind == "aws" and rest.startswith("#")):
            raise ValueError("not a secret reference")
        self.ref = ref
        self._value: str | None = None

    @property
    def env_var(self) -> str | None:
        return self.ref[4:] if self.ref.startswith("env:") else None

    @property
    def resolved(self) -> bool:
        return self._value is not None

    def reveal(self) -> str:
        if self._value is None:
            raise RuntimeError(f"secret {self.ref} has not been resolved")
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.ref!r})"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("a Secret cannot be pickled")


# ---------------------------------------------------------------- schema (the dataclasses)

@dataclass
class EngineConfig:
    id: str = "pyengine"            # namespace of the client order ids (pyengine.ids)
    # Never sleep between events: the trio loop polls its sockets without blocking, so the
    # hot path's code and data stay in the core's caches. Idle, another process on the same
    # core evicts them and the next tick-to-order costs about 10x its warm time (see
    # tools/bench/latency.py). Costs a whole core: only for a core the engine has to itself.
    busy_poll: bool = False


@dataclass
class VenueConfig:
    kind: str = field(default="sim", metadata={"choices": VENUE_KINDS})
    rest_url: str | None = None     # overrides of the kind's endpoints
    ws_api_url: str | None = None
    stream_url: str | None = None
    api_key: Secret | None = None
    private_key: Secret | None = None
    key_type: str = field(default="ed25519", metadata={"choices": ["ed25519", "hmac", "rsa"]})
    recv_window_ms: int = 5000
    sim: dict[str, Any] = field(default_factory=dict)   # passed through to pyengine.sim

    def endpoints(self) -> Endpoints | None:
        """The kind's Binance endpoints with any URL overrides applied; None for the
        simulator unless all three URLs are given (it picks its own loopback ports)."""
        if self.kind == "sim":
            if self.rest_url and self.ws_api_url and self.stream_url:
                return Endpoints.local(self.rest_url, self.ws_api_url, self.stream_url, "sim")
            return None
        base = endpoints_by_name(self.kind)
        return dataclasses.replace(base, rest=self.rest_url or base.rest,
                                   ws_api=self.ws_api_url or base.ws_api,
                                   streams=self.stream_url or base.streams)


@dataclass
class UniverseConfig:
    symbols: list[str] = field(default_factory=lambda: list(DEFAULT_UNIVERSE))


@dataclass
class SelectionConfig:
    enabled: bool = True
    reevaluate_s: float = 300.0
    min_quote_volume_24h: Decimal = Decimal(0)
    max_spread_bps: float | None = None
    min_volatility_pct: float | None = None
    max_volatility_pct: float | None = None
    volatility_interval: str = field(default="1h", metadata={"choices": INTERVALS})
    volatility_bars: int = 24


@dataclass
class LedgerConfig:
    capacity: int = 2000                  # closed bars kept per symbol and interval
    warmup_bars: int = 300                # newest closed bars fetched once at start
    # request weight per rolling minute the REST warm-up may spend (klines weigh 2; Binance
    # allows 6000 per IP per minute, shared with everything else the machine sends)
    warmup_weight_per_minute: int = 600


@dataclass
class StrategyConfig:
    id: str
    pine: pathlib.Path = field(metadata={"path": True})
    symbols: list[str] = field(default_factory=list)     # empty: the whole universe
    interval: str = field(default="1m", metadata={"choices": INTERVALS})
    inputs: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True


@dataclass
class JournalConfig:
    path: pathlib.Path = field(default=pathlib.Path("pyengine-journal.sqlite"),
                               metadata={"path": True})
    synchronous: str = field(default="normal", metadata={"choices": ["normal", "full"]})
    flush_interval_ms: int = 50


@dataclass
class SecretsConfig:
    aws_region: str | None = None


def _parse_risk(data: Mapping[str, Any], where: str) -> Any:
    from risk.config import RiskConfig
    return RiskConfig.from_mapping(data, where=where)


def _parse_telemetry(data: Mapping[str, Any], where: str) -> Any:
    from pyengine.telemetry.config import TelemetryConfig
    return TelemetryConfig.from_dict(data, where=where)


@dataclass
class Config:
    engine: EngineConfig = field(default_factory=EngineConfig)
    venue: VenueConfig = field(default_factory=VenueConfig)
    universe: UniverseConfig = field(default_factory=UniverseConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    ledger: LedgerConfig = field(default_factory=LedgerConfig)
    strategies: list[StrategyConfig] = field(default_factory=list)
    journal: JournalConfig = field(default_factory=JournalConfig)
    secrets: SecretsConfig = field(default_factory=SecretsConfig)
    # Sections owned by their subsystems, validated by their own parsers:
    # risk.config.RiskConfig and pyengine.telemetry.config.TelemetryConfig.
    risk: Any = field(default_factory=lambda: _parse_risk({}, "risk"),
                      metadata={"parse": _parse_risk})
    telemetry: Any = field(default_factory=lambda: _parse_telemetry({}, "telemetry"),
                           metadata={"parse": _parse_telemetry})
    source: pathlib.Path | None = field(default=None, repr=False, metadata={"internal": True})

    def secret_fields(self) -> list[tuple[str, Secret]]:
        """(dotted key, Secret) of every secret the configuration references."""
        out: list[tuple[str, Secret]] = []
        _walk_secrets(self, "", out)
        return out


# ---------------------------------------------------------------- loading

SecretFetcher = Callable[[str], str]     # SecretId -> SecretString


def default_config() -> Config:
    """The configuration of ``pyengine run`` without ``--config``: paper trading on the
    simulator, the default universe, journal in the working directory."""
    cfg = Config()
    _check(cfg, "<default>", [])
    return cfg


def load_config(path: str | os.PathLike, *, resolve_secrets: bool = True,
                environ: Mapping[str, str] | None = None,
                aws_fetch: SecretFetcher | None = None) -> Config:
    """Read, validate and (unless told not to) resolve the secrets of a TOML file."""
    p = pathlib.Path(path)
    label = str(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{label}: file not found"]) from None
    except OSError as exc:
        raise ConfigError([f"{label}: cannot read: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError([f"{label}: not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{label}: TOML syntax error: {exc}"]) from None
    return config_from_dict(data, label=label, base_dir=p.resolve().parent,
                            resolve_secrets=resolve_secrets, environ=environ, aws_fetch=aws_fetch)


def config_from_dict(data: Mapping[str, Any], *, label: str = "<config>",
                     base_dir: pathlib.Path | None = None, resolve_secrets: bool = True,
                     environ: Mapping[str, str] | None = None,
                     aws_fetch: SecretFetcher | None = None) -> Config:
    errors: list[str] = []
    loader = _Loader(label, base_dir or pathlib.Path.cwd(), errors)
    cfg = loader.load(Config, data, "")
    if cfg is None:
        raise ConfigError(errors)
    cfg.source = pathlib.Path(label) if base_dir else None
    _check(cfg, label, errors)
    if errors:
        raise ConfigError(errors)
    if resolve_secrets:
        resolve_config_secrets(cfg, label, environ=environ, aws_fetch=aws_fetch)
    return cfg


def resolve_config_secrets(cfg: Config, label: str, *, environ: Mapping[str, str] | None = None,
                           aws_fetch: SecretFetcher | None = None) -> None:
    """Fill in every Secret of ``cfg``; raises ConfigError naming each one that is missing."""
    env = os.environ if environ is None else environ
    errors: list[str] = []
    cache: dict[str, str] = {}
    fetch = aws_fetch
    for key, secret in cfg.secret_fields():
        if secret.env_var is not None:
            value = env.get(secret.env_var)
            if not value:
                errors.append(f"{label}:{key}: environment variable {secret.env_var} "
                              "is not set")
                continue
            secret._value = value
            continue
        secret_id, _, fieldname = secret.ref[4:].partition("#")
        try:
            if secret_id not in cache:
                if fetch is None:
                    fetch = aws_secret_fetcher(cfg.secrets.aws_region)
                cache[secret_id] = fetch(secret_id)
            text = cache[secret_id]
        except SecretLookupError as exc:
            errors.append(f"{label}:{key}: AWS Secrets Manager secret {secret_id!r}: {exc}")
            continue
        if fieldname:
            try:
                obj = json.loads(text)
            except ValueError:
                obj = None
            if not isinstance(obj, dict):
                errors.append(f"{label}:{key}: AWS secret {secret_id!r} is not a JSON object, "
                              f"so it has no field {fieldname!r}")
                continue
            if not isinstance(obj.get(fieldname), str) or not obj[fieldname]:
                errors.append(f"{label}:{key}: AWS secret {secret_id!r} has no string field "
                              f"{fieldname!r}")
                continue
            secret._value = obj[fieldname]
        else:
            secret._value = text
    if errors:
        raise ConfigError(errors)


class SecretLookupError(Exception):
    """A Secrets Manager look-up failed; the message never contains secret material."""


def aws_secret_fetcher(region: str | None) -> SecretFetcher:
    """SecretId -> SecretString through boto3's ``secretsmanager.get_secret_value``."""
    import boto3
    import botocore.exceptions

    client = boto3.client("secretsmanager", region_name=region)

    def fetch(secret_id: str) -> str:
        try:
            resp = client.get_secret_value(SecretId=secret_id)
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "ClientError")
            raise SecretLookupError(f"{code}") from None
        except botocore.exceptions.NoRegionError:
            raise SecretLookupError("no AWS region: set [secrets] aws_region or "
                                    "AWS_DEFAULT_REGION") from None
        except botocore.exceptions.NoCredentialsError:
            raise SecretLookupError("no AWS credentials found") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise SecretLookupError(type(exc).__name__) from None
        if "SecretString" not in resp:
            raise SecretLookupError("binary secrets are not supported; store a string")
        return resp["SecretString"]

    return fetch


# ---------------------------------------------------------------- internals

_TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               Decimal: "a decimal number (a string such as \"0.5\" or a number)",
               Secret: "a secret reference (\"env:NAME\" or \"aws:SECRET_ID#FIELD\")"}


def _describe(value: Any) -> str:
    kind = {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)
    if isinstance(value, (list, dict)):
        return kind
    text = repr(value)
    return f"{kind} {text if len(text) <= 40 else text[:37] + '...'}"


class _Loader:
    def __init__(self, label: str, base_dir: pathlib.Path, errors: list[str]):
        self.label, self.base_dir, self.errors = label, base_dir, errors

    def err(self, key: str, msg: str) -> None:
        self.errors.append(f"{self.label}:{key}: {msg}" if key else f"{self.label}: {msg}")

    def load(self, cls: type, data: Any, where: str) -> Any:
        if not isinstance(data, dict):
            self.err(where, f"expected a table, got {_describe(data)}")
            return None
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
        before = len(self.errors)
        for key in data:
            if key not in fields:
                close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else \
                    f" (known keys: {', '.join(fields)})"
                self.err(_join(where, key), f"unknown key{hint}")
        kwargs = {}
        for name, f in fields.items():
            key = _join(where, name)
            if name in data and "parse" in f.metadata:
                kwargs[name] = self.delegate(f.metadata["parse"], data[name], key)
            elif name in data:
                kwargs[name] = self.convert(hints[name], data[name], key, f.metadata)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                self.err(key, "missing required key")
        if len(self.errors) > before:
            return None
        return cls(**kwargs)

    def delegate(self, parse: Callable[[Mapping[str, Any], str], Any], value: Any,
                 key: str) -> Any:
        if not isinstance(value, dict):
            self.err(key, f"expected a table, got {_describe(value)}")
            return None
        try:
            return parse(value, f"{self.label}:{key}")
        except UserError as exc:
            msg = str(exc)
            self.errors.append(msg if msg.startswith(self.label) else f"{self.label}:{key}: {msg}")
            return None

    def convert(self, tp: Any, value: Any, key: str, meta: Mapping[str, Any]) -> Any:
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
            return self.convert(inner, value, key, meta)
        if dataclasses.is_dataclass(tp):
            return self.load(tp, value, key)
        if origin is list:
            (item,) = typing.get_args(tp)
            if not isinstance(value, list):
                self.err(key, f"expected an array, got {_describe(value)}")
                return None
            return [self.convert(item, v, f"{key}[{i}]", meta) for i, v in enumerate(value)]
        if origin is dict:
            if not isinstance(value, dict):
                self.err(key, f"expected a table, got {_describe(value)}")
            return value
        if tp is Secret:
            if not isinstance(value, str):
                self.err(key, f"expected {_TYPE_WORDS[Secret]}, got a {type(value).__name__}")
                return None
            try:
                return Secret(value)
            except ValueError:
                # The value may be the secret itself: never echo it.
                self.err(key, "secrets are never written in the file: use \"env:NAME\" "
                              "(environment variable) or \"aws:SECRET_ID#FIELD\" "
                              "(AWS Secrets Manager)")
                return None
        if tp is pathlib.Path:
            if not isinstance(value, str) or not value:
                self.err(key, f"expected a path (a string), got {_describe(value)}")
                return None
            p = pathlib.Path(value).expanduser()
            return pathlib.Path(os.path.normpath(p if p.is_absolute() else self.base_dir / p))
        if tp is Decimal:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                self.err(key, f"expected {_TYPE_WORDS[Decimal]}, got {_describe(value)}")
                return None
            try:
                d = Decimal(str(value))
            except InvalidOperation:
                d = None
            if d is None or not d.is_finite():
                self.err(key, f"expected {_TYPE_WORDS[Decimal]}, got {_describe(value)}")
                return None
            return d
        ok = (isinstance(value, tp) and not (tp is int and isinstance(value, bool))) or \
             (tp is float and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            self.err(key, f"expected {_TYPE_WORDS.get(tp, tp.__name__)}, got {_describe(value)}")
            return None
        if tp is float:
            value = float(value)
            if math.isnan(value):
                self.err(key, "expected a number, got nan")
                return None
        choices = meta.get("choices")
        if choices and value not in choices:
            close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.err(key, f"{value!r} is not one of {', '.join(choices)}{hint}")
            return None
        return value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _walk_secrets(obj: Any, where: str, out: list[tuple[str, Secret]]) -> None:
    if isinstance(obj, Secret):
        out.append((where, obj))
    elif dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            _walk_secrets(getattr(obj, f.name), _join(where, f.name), out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _walk_secrets(v, f"{where}[{i}]", out)


def _positive(label: str, key: str, value: float | int | None, errors: list[str]) -> None:
    if value is not None and value <= 0:
        errors.append(f"{label}:{key}: must be greater than 0, got {value}")


def _check(cfg: Config, label: str, errors: list[str]) -> None:
    """Rules that involve more than one key or more than a type."""
    universe = cfg.universe.symbols
    if not universe:
        errors.append(f"{label}:universe.symbols: the universe is empty")
    if len(set(universe)) != len(universe):
        errors.append(f"{label}:universe.symbols: duplicate symbols")
    for i, sym in enumerate(universe):
        if sym != sym.upper() or not sym.strip():
            errors.append(f"{label}:universe.symbols[{i}]: {sym!r} is not an uppercase "
                          "Binance symbol")
    v = cfg.venue
    if v.kind != "sim":
        if v.api_key is None:
            v.api_key = Secret("env:BINANCE_API_KEY")
        if v.private_key is None:
            v.private_key = Secret("env:BINANCE_PRIVATE_KEY")
    _positive(label, "venue.recv_window_ms", v.recv_window_ms, errors)
    if v.recv_window_ms > 60000:
        errors.append(f"{label}:venue.recv_window_ms: Binance allows at most 60000")
    seen: set[str] = set()
    for i, s in enumerate(cfg.strategies):
        key = f"strategies[{i}]"
        if s.id in seen:
            errors.append(f"{label}:{key}.id: duplicate strategy id {s.id!r}")
        seen.add(s.id)
        if not s.id or not s.id.replace("_", "").replace("-", "").isalnum():
            errors.append(f"{label}:{key}.id: {s.id!r} must be letters, digits, '-' or '_'")
        if not s.pine.is_file():
            errors.append(f"{label}:{key}.pine: file not found: {s.pine}")
        for j, sym in enumerate(s.symbols):
            if sym not in universe:
                errors.append(f"{label}:{key}.symbols[{j}]: {sym!r} is not in the universe "
                              f"({', '.join(universe)})")
        if not s.symbols:
            s.symbols = list(universe)
    sel = cfg.selection
    _positive(label, "selection.reevaluate_s", sel.reevaluate_s, errors)
    _positive(label, "selection.volatility_bars", sel.volatility_bars, errors)
    if sel.min_quote_volume_24h < 0:
        errors.append(f"{label}:selection.min_quote_volume_24h: must not be negative")
    if (sel.min_volatility_pct is not None and sel.max_volatility_pct is not None
            and sel.min_volatility_pct > sel.max_volatility_pct):
        errors.append(f"{label}:selection.min_volatility_pct: greater than "
                      "selection.max_volatility_pct")
    _positive(label, "selection.max_spread_bps", sel.max_spread_bps, errors)
    _positive(label, "selection.max_volatility_pct", sel.max_volatility_pct, errors)
    if sel.min_volatility_pct is not None and sel.min_volatility_pct < 0:
        errors.append(f"{label}:selection.min_volatility_pct: must not be negative")
    led = cfg.ledger
    _positive(label, "ledger.capacity", led.capacity, errors)
    _positive(label, "ledger.warmup_bars", led.warmup_bars, errors)
    if led.capacity > 0 and led.warmup_bars > led.capacity:
        errors.append(f"{label}:ledger.warmup_bars: {led.warmup_bars} is more than "
                      f"ledger.capacity ({led.capacity}) keeps")
    if sel.volatility_bars >= led.capacity > 0:
        errors.append(f"{label}:selection.volatility_bars: needs {sel.volatility_bars + 1} "
                      f"bars but ledger.capacity keeps {led.capacity}")
    if not KLINES_WEIGHT <= led.warmup_weight_per_minute <= BINANCE_WEIGHT_PER_MINUTE:
        errors.append(f"{label}:ledger.warmup_weight_per_minute: must be between "
                      f"{KLINES_WEIGHT} (one klines request) and {BINANCE_WEIGHT_PER_MINUTE} "
                      f"(Binance's limit per IP), got {led.warmup_weight_per_minute}")
    _positive(label, "journal.flush_interval_ms", cfg.journal.flush_interval_ms, errors)
    if cfg.risk is not None and cfg.risk.stop_mode != "engine":
        errors.append(f"{label}:risk.stop_mode: {EXCHANGE_STOPS_REFUSED}")
