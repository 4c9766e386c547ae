"""The ``[telemetry]`` configuration section. Every sink and the bot are optional; secrets
are never in the file, only the names of the environment variables that hold them.

    [telemetry]
    engine_id = "paper"            # tag on every point; Redis hash tag; Timestream dimension
    rollup_interval_s = 1.0
    sink_queue_size = 100000       # per sink; the oldest points are dropped when full
    [telemetry.sqlite]             # on by default
    path = "telemetry.sqlite"
    [telemetry.redis]
    url = "rediss://my-cache.xxxxxx.apne1.cache.amazonaws.com:6379/0"   # rediss:// = TLS
    username = "pyengine"          # ACL user (optional)
    password_env = "PYENGINE_REDIS_PASSWORD"
    cluster = false                # cluster-mode endpoint (redis-py RedisCluster)
    ssl_ca_certs = ""              # optional CA bundle path
    stream_maxlen = 100000
    [telemetry.timestream]
    database = "pyengine"
    table = "metrics"
    region = "ap-northeast-1"
    [telemetry.influx]
    url = "https://xxxx.timestream-influxdb.ap-northeast-1.on.aws:8086"
    version = 2                    # 2: org + bucket + token_env; 1: database (+ username, password_env)
    org = "trading"
    bucket = "pyengine"
    token_env = "PYENGINE_INFLUX_TOKEN"
    [telemetry.alerts]
    dedupe_s = 300
    burst = 10
    per_minute = 20
    [telemetry.telegram]
    token_env = "PYENGINE_TELEGRAM_TOKEN"
    allowed_chat_ids = [123456789]
    alert_chat_ids = [123456789]   # default: the allowed chats
    base_url = ""                  # default https://api.telegram.org
    [telemetry.webhook]
    url_env = "PYENGINE_WEBHOOK_URL"
    style = "lark"                 # or "slack"
    [telemetry.dashboard]
    enabled = true
    host = "127.0.0.1"
    port = 8765
    token_env = "PYENGINE_DASHBOARD_TOKEN"
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from pyengine.errors import UserError


@dataclass
class SqliteConfig:
    path: str = "telemetry.sqlite"


@dataclass
class RedisConfig:
    url: str = ""
    username: str = ""
    password_env: str = ""
    cluster: bool = False
    ssl_ca_certs: str = ""
    stream_maxlen: int = 100_000


@dataclass
class TimestreamConfig:
    database: str = ""
    table: str = ""
    region: str = ""


@dataclass
class InfluxConfig:
    url: str = ""
    version: int = 2
    org: str = ""
    bucket: str = ""
    token_env: str = ""
    database: str = ""
    username: str = ""
    password_env: str = ""


@dataclass
class AlertsConfig:
    dedupe_s: float = 300.0
    burst: int = 10
    per_minute: float = 20.0


@dataclass
class TelegramConfig:
    token_env: str = "PYENGINE_TELEGRAM_TOKEN"
    allowed_chat_ids: list[int] = field(default_factory=list)
    alert_chat_ids: list[int] | None = None
    base_url: str = ""


@dataclass
class WebhookConfig:
    url_env: str = "PYENGINE_WEBHOOK_URL"
    style: str = "slack"


@dataclass
class DashboardConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8765
    token_env: str = "PYENGINE_DASHBOARD_TOKEN"


@dataclass
class TelemetryConfig:
    engine_id: str = "paper"
    rollup_interval_s: float = 1.0
    sink_queue_size: int = 100_000
    sqlite: SqliteConfig | None = field(default_factory=SqliteConfig)
    redis: RedisConfig | None = None
    timestream: TimestreamConfig | None = None
    influx: InfluxConfig | None = None
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    telegram: TelegramConfig | None = None
    webhook: WebhookConfig | None = None
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "[telemetry]") -> "TelemetryConfig":
        """Validate a parsed TOML section: unknown keys and wrong types are errors naming
        the key. ``sqlite = false`` turns the default SQLite sink off."""
        sections = {"sqlite": SqliteConfig, "redis": RedisConfig, "timestream": TimestreamConfig,
                    "influx": InfluxConfig, "alerts": AlertsConfig, "telegram": TelegramConfig,
                    "webhook": WebhookConfig, "dashboard": DashboardConfig}
        top = {k: v for k, v in data.items() if k not in sections}
        config = _build(cls, top, where, skip=set(sections))
        for name, section_cls in sections.items():
            if name not in data:
                continue
            value = data[name]
            if value is False and name == "sqlite":
                config.sqlite = None
                continue
            if not isinstance(value, Mapping):
                raise UserError(f"{where}.{name} must be a table")
            setattr(config, name, _build(section_cls, value, f"{where}.{name}"))
        config.validate(where)
        return config

    def validate(self, where: str = "[telemetry]") -> None:
        if self.rollup_interval_s <= 0:
            raise UserError(f"{where}.rollup_interval_s must be > 0")
        if self.sink_queue_size <= 0:
            raise UserError(f"{where}.sink_queue_size must be > 0")
        if self.redis and not self.redis.url:
            raise UserError(f"{where}.redis.url is required (redis:// or rediss:// for TLS)")
        if self.timestream and not (self.timestream.database and self.timestream.table):
            raise UserError(f"{where}.timestream needs database and table")
        if self.influx:
            if not self.influx.url:
                raise UserError(f"{where}.influx.url is required")
            if self.influx.version not in (1, 2):
                raise UserError(f"{where}.influx.version must be 1 or 2")
            if self.influx.version == 2 and not (self.influx.org and self.influx.bucket):
                raise UserError(f"{where}.influx (v2) needs org and bucket")
            if self.influx.version == 1 and not self.influx.database:
                raise UserError(f"{where}.influx (v1) needs database")
        if self.webhook and self.webhook.style not in ("slack", "lark"):
            raise UserError(f"{where}.webhook.style must be \"slack\" or \"lark\"")
        if self.telegram and not self.telegram.allowed_chat_ids:
            raise UserError(f"{where}.telegram.allowed_chat_ids must list at least one chat id")


def secret(env_name: str, what: str, required: bool = True) -> str | None:
    """The value of a secret's environment variable; a missing required one is an error
    naming the variable (never the value)."""
    if not env_name:
        return None
    value = os.environ.get(env_name)
    if not value and required:
        raise UserError(f"{what}: environment variable {env_name} is not set")
    return value or None


_TYPES = {int: (int,), float: (int, float), bool: (bool,), str: (str,)}


def _build(cls: type, data: Mapping[str, Any], where: str, skip: set[str] = frozenset()):
    known = {f.name: f for f in fields(cls) if f.name not in skip}
    kwargs = {}
    for key, value in data.items():
        if key not in known:
            raise UserError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")
        kwargs[key] = _check(value, known[key].type, f"{where}.{key}")
    return cls(**kwargs)


def _check(value: Any, annotation: str, where: str) -> Any:
    base = annotation.split("|")[0].strip()
    if base.startswith("list[int]"):
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise UserError(f"{where} must be a list of integers")
        return value
    expected = {"int": int, "float": float, "bool": bool, "str": str}[base]
    if isinstance(value, bool) and expected is not bool:
        raise UserError(f"{where} must be {base}, got a boolean")
    if not isinstance(value, _TYPES[expected]):
        raise UserError(f"{where} must be {base}, got {type(value).__name__}")
    return float(value) if expected is float else value
