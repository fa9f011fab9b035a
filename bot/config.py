"""Configuration: a TOML file validated into pydantic models, one per section.

A bad config stops start-up with a message naming the offending key, so an office admin can fix
it without reading a traceback.
"""

from __future__ import annotations

import os
import re
import tomllib
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import SplitResult, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from domain.numbers import NUMERAL_CHARACTERS
from domain.periods import PeriodKind
from domain.rules import RuleError, parse_rule
from domain.schedule import Offset, OpenFor, Schedule, ScheduleError

CONFIG_ENV = "FIGBOT_CONFIG"
TOKEN_ENV = "FIGBOT_TELEGRAM_TOKEN"
DATABASE_ENV = "FIGBOT_DATABASE_URL"
WEBHOOK_SECRET_ENV = "FIGBOT_WEBHOOK_SECRET"

Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
UNIT_KINDS = {"社区": "community", "村": "village", "community": "community", "village": "village"}


class ConfigError(Exception):
    """The config cannot be used; the message names the key and says what is wrong."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def proxy_problem(url: str) -> str | None:
    """What is wrong with a proxy URL, or None."""
    parts = urlsplit(url)
    if parts.scheme not in PROXY_SCHEMES:
        return "must start with http://, https://, socks5:// or socks5h://"
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        return "must name the proxy's host and port, e.g. socks5://127.0.0.1:1080"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "must be only scheme://[user:password@]host:port"
    return None


class TelegramConfig(_Section):
    token: SecretStr = SecretStr("")
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    bot_username: str = ""
    poll_timeout: int = Field(default=30, ge=0, le=50)
    # Telegram's broadcast limit; raise it only for a Bot API server that allows more.
    max_messages_per_second: float = Field(default=30.0, gt=0)
    # The proxy every Bot API request goes through (empty: HTTPS_PROXY / ALL_PROXY, if set).
    proxy: SecretStr = SecretStr("")

    @field_validator("proxy")
    @classmethod
    def _proxy_url(cls, proxy: SecretStr) -> SecretStr:
        url = proxy.get_secret_value()
        if url and (problem := proxy_problem(url)):
            raise ValueError(problem)
        return proxy

    @property
    def api_host(self) -> str:
        """The Bot API server as an admin recognises it: host[:port], never the path."""
        return _host_port(urlsplit(self.base_url))

    @property
    def proxy_host(self) -> str:
        """The proxy without its credentials (for messages), or empty."""
        url = self.proxy.get_secret_value()
        return f"{urlsplit(url).scheme}://{_host_port(urlsplit(url))}" if url else ""

    def secrets(self) -> list[str]:
        """What must never be shown: the proxy's credentials (the token is named apart)."""
        parts = urlsplit(self.proxy.get_secret_value())
        found = [parts.password or ""]
        if parts.password:
            found.append(parts.netloc.rpartition("@")[0])  # user:password, as written
            found.append(unquote(parts.password))
        return [secret for secret in found if secret]


def _host_port(parts: SplitResult) -> str:
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


class DatabaseConfig(_Section):
    url: str = "sqlite:///figbot.db"
    auto_upgrade: bool = True

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if not url.startswith(("sqlite://", "postgresql")):
            raise ValueError("must start with sqlite:// or postgresql+psycopg://")
        return url


class BotConfig(_Section):
    language: Literal["zh-Hans", "en"] = "zh-Hans"
    invite_ttl_days: int = Field(default=7, ge=1, le=365)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    outbox_interval_seconds: float = Field(default=5.0, gt=0)
    # Per-user flood limit: more than flood_messages updates within flood_seconds are dropped.
    flood_messages: int = Field(default=20, ge=1)
    flood_seconds: float = Field(default=10.0, gt=0)


class UnitConfig(_Section):
    code: Key
    name: str = Field(min_length=1)
    kind: str = "社区"

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in UNIT_KINDS:
            raise ValueError("must be 社区 or 村")
        return UNIT_KINDS[kind]


class OfficeConfig(_Section):
    code: Key
    name: str = Field(min_length=1)
    timezone: str = "Asia/Shanghai"
    units: list[UnitConfig] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {zone!r}") from exc
        return zone


class OutlierConfig(_Section):
    """When a figure is questioned as unusual for the unit (factor 0: never)."""

    factor: float = Field(default=3.0, ge=0)
    floor: int = Field(default=10, ge=0)
    history: int = Field(default=6, ge=1, le=36)


class IndicatorConfig(_Section):
    key: Key
    label: str = Field(min_length=1)
    measure_word: str = Field(min_length=1)
    help: str | None = None
    aggregation: Literal["sum", "max", "latest"] = "sum"
    aliases: list[str] = Field(default_factory=list)
    other_measure_words: list[str] = Field(
        default_factory=list, description="also counted in these, e.g. 件 besides 宗"
    )
    min: int = Field(default=0, ge=0)
    max: int | None = Field(default=None, ge=0)
    required: bool = True
    decimals: int = Field(default=0, ge=0, le=4, description="0: a whole count")
    outliers: OutlierConfig = OutlierConfig()

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: list[str]) -> list[str]:
        if any(not alias.strip() for alias in value):
            raise ValueError("an alias cannot be empty")
        return [alias.strip() for alias in value]

    @field_validator("other_measure_words")
    @classmethod
    def _other_measure_words(cls, value: list[str]) -> list[str]:
        words = [word.strip() for word in value]
        for word in words:
            if not word:
                raise ValueError("a measure word cannot be empty")
            if any(c.isdigit() or c in NUMERAL_CHARACTERS for c in word):
                raise ValueError(f"{word!r}: a measure word cannot hold a numeral")
        if len(set(words)) != len(words):
            raise ValueError("a measure word is listed twice")
        return words

    @model_validator(mode="after")
    def _bounds(self) -> IndicatorConfig:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        if self.measure_word in self.other_measure_words:
            raise ValueError(
                f"other_measure_words: {self.measure_word!r} is already the measure_word"
            )
        return self

    def as_rules(self) -> dict[str, Any]:
        """What the database keeps of the indicator's rules (see models.Indicator.rules)."""
        return {
            "aliases": list(self.aliases),
            "other_measure_words": list(self.other_measure_words),
            "min": self.min,
            "max": self.max,
            "required": self.required,
            "decimals": self.decimals,
            "outliers": self.outliers.model_dump(),
        }


def _offset(value: str) -> str:
    try:
        Offset.parse(value)
    except ScheduleError as exc:
        raise ValueError(str(exc)) from None
    return value


class ScheduleConfig(_Section):
    """When rounds open by themselves and whom figbot chases before the deadline."""

    open: str = Field(description="cron: minute hour day month weekday, office time zone")
    open_for: OpenFor = OpenFor.CURRENT
    reminders: list[str] = Field(default_factory=list)
    digests: list[str] = Field(default_factory=list)

    @field_validator("open")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(
                f"not a cron expression ({exc}); expected 5 fields: "
                "minute hour day month weekday, e.g. '0 9 25 * *'"
            ) from None
        return value

    @field_validator("reminders", "digests")
    @classmethod
    def _offsets(cls, values: list[str]) -> list[str]:
        return [_offset(value) for value in values]


class FormConfig(_Section):
    key: Key
    name: str = Field(min_length=1)
    period: PeriodKind
    indicators: list[str] = Field(min_length=1)
    deadline_days: int = Field(default=3, ge=0, le=90, description="days after the period's end")
    deadline_time: str = "18:00"
    working_days: bool = False
    lock_after: str = "3d"
    schedule: ScheduleConfig | None = None
    # Checked when the unit reviews its figures, e.g. "mediated_success <= disputes_mediated".
    rules: list[str] = Field(default_factory=list)

    @field_validator("deadline_time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("must be HH:MM, e.g. 18:00")
        return value

    @field_validator("lock_after")
    @classmethod
    def _grace(cls, value: str) -> str:
        return _offset(value)

    def as_schedule(self) -> Schedule:
        """The domain schedule (without a cron for a form that is only opened by hand)."""
        spec = self.schedule
        return Schedule(
            period_kind=self.period,
            open_cron=spec.open if spec else None,
            open_for=spec.open_for if spec else OpenFor.CURRENT,
            deadline_days=self.deadline_days,
            deadline_time=self.deadline_time,
            reminders=tuple(Offset.parse(v) for v in (spec.reminders if spec else [])),
            digests=tuple(Offset.parse(v) for v in (spec.digests if spec else [])),
            lock_after=Offset.parse(self.lock_after),
            working_days=self.working_days,
        )


class ReportsConfig(_Section):
    """The annual report draft: a Jinja2 template the office may rewrite (empty: the default)."""

    annual_template: str = ""
    # The longest the template may run; past it the template is stopped and the report refused.
    annual_template_seconds: float = Field(default=10.0, gt=0, le=600)
    push_summary_at_deadline: bool = True


class SchedulerConfig(_Section):
    enabled: bool = True
    lease_seconds: int = Field(default=60, ge=5, le=3600)
    remind_cooldown_minutes: int = Field(default=60, ge=0)


class WebhookConfig(_Section):
    """``figbot run --webhook``: Telegram posts updates to ``url``; replicas behind a load
    balancer each listen on ``listen``:``port`` at the URL's path."""

    url: str = ""
    listen: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    secret_token: SecretStr = SecretStr("")
    max_connections: int = Field(default=40, ge=1, le=100)
    set_webhook: bool = True

    @field_validator("url")
    @classmethod
    def _https(cls, url: str) -> str:
        if url and not url.startswith(("https://", "http://")):
            raise ValueError("must be the public https:// address Telegram posts updates to")
        return url

    @field_validator("secret_token")
    @classmethod
    def _token_chars(cls, token: SecretStr) -> SecretStr:
        value = token.get_secret_value()
        if value and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value):
            raise ValueError("may only contain A-Z, a-z, 0-9, _ and - (1 to 256 characters)")
        return token

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"

    def problems(self) -> list[str]:
        """What stops ``--webhook`` from starting, each naming its key."""
        found = []
        if not self.url:
            found.append("webhook.url: set the public address Telegram posts updates to")
        if not self.secret_token.get_secret_value():
            found.append(
                f"webhook.secret_token: set it (or {WEBHOOK_SECRET_ENV}) so only Telegram "
                "can post updates"
            )
        return found


class FigbotConfig(_Section):
    telegram: TelegramConfig = TelegramConfig()
    database: DatabaseConfig = DatabaseConfig()
    webhook: WebhookConfig = WebhookConfig()
    bot: BotConfig = BotConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    reports: ReportsConfig = ReportsConfig()
    offices: list[OfficeConfig] = Field(min_length=1)
    indicators: list[IndicatorConfig] = Field(min_length=1)
    forms: list[FormConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> FigbotConfig:
        _unique("offices", [o.code for o in self.offices])
        _unique("offices.units", [u.code for o in self.offices for u in o.units])
        _unique("indicators", [i.key for i in self.indicators])
        _unique("forms", [f.key for f in self.forms])
        known = {i.key for i in self.indicators}
        for number, form in enumerate(self.forms):
            for key in form.indicators:
                if key not in known:
                    raise ValueError(
                        f"forms[{number}].indicators: unknown indicator {key!r} "
                        f"(declare it under [[indicators]])"
                    )
            _unique(f"forms[{number}].indicators", form.indicators)
            for index, rule in enumerate(form.rules):
                try:
                    parse_rule(rule, form.indicators)
                except RuleError as exc:
                    raise ValueError(f"forms[{number}].rules[{index}]: {exc}") from None
            names: dict[str, str] = {}
            by_key = {i.key: i for i in self.indicators}
            for key in form.indicators:
                for name in (by_key[key].label, *by_key[key].aliases):
                    if names.setdefault(name, key) != key:
                        raise ValueError(
                            f"forms[{number}]: {name!r} names both {names[name]!r} and {key!r}; "
                            f"a label or alias must name one indicator"
                        )
        return self

    def office(self, code: str) -> OfficeConfig:
        for office in self.offices:
            if office.code == code:
                return office
        raise KeyError(code)

    def form(self, key: str) -> FormConfig:
        for form in self.forms:
            if form.key == key:
                return form
        raise KeyError(key)

    def secrets(self) -> list[str]:
        """Every secret of the config but the token: never logged (bot.logsetup)."""
        found = [*self.telegram.secrets(), self.webhook.secret_token.get_secret_value()]
        database = urlsplit(self.database.url)
        if database.password:
            found += [database.password, unquote(database.password)]
        return [secret for secret in found if secret]


def _unique(where: str, keys: list[str]) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"{where}: duplicate key {key!r}")
        seen.add(key)


def _format_error(path: Path, error: ValidationError) -> str:
    lines = [f"{path}: invalid configuration"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


def proxy_from_environment(base_url: str, environ: Mapping[str, str]) -> str:
    """The proxy the standard variables name for the Bot API at ``base_url``, or empty.

    As curl reads them: ``HTTPS_PROXY`` for an https:// Bot API (``HTTP_PROXY`` for http://),
    else ``ALL_PROXY``; lower-case names win; none when ``NO_PROXY`` names the host; a value
    without a scheme (``proxy.example:3128``) is an HTTP proxy.
    """
    parts = urlsplit(base_url)
    # urllib.request's reading of the variables (lower case wins), from ``environ``.
    proxies: dict[str, str] = {}
    for lower_only in (False, True):
        for name, value in environ.items():
            if value and name.lower().endswith("_proxy") and (name.islower() or not lower_only):
                proxies[name[: -len("_proxy")].lower()] = value
    # NO_PROXY's matching as urllib.request does it (not in the type stubs, but long public).
    bypass = urllib.request.proxy_bypass_environment(  # type: ignore[attr-defined]
        parts.hostname or "", proxies
    )
    if bypass:
        return ""
    for scheme in (parts.scheme, "all"):
        if url := proxies.get(scheme, ""):
            url = url if "://" in url else f"http://{url}"
            name = f"{scheme.upper()}_PROXY"
            if problem := proxy_problem(url):
                raise ConfigError(f"{name} (the proxy for the Bot API): {problem}")
            return url
    return ""


def parse_config(data: dict[str, Any], *, source: Path, environ: dict[str, str]) -> FigbotConfig:
    """Validate raw TOML data; environment variables override the secrets and database URL,
    and name the proxy when the config does not."""
    data = {**data}
    if token := environ.get(TOKEN_ENV):
        data["telegram"] = {**data.get("telegram", {}), "token": token}
    telegram = data.get("telegram", {})
    if isinstance(telegram, dict) and not telegram.get("proxy"):
        base_url = telegram.get("base_url", TelegramConfig().base_url)
        if isinstance(base_url, str) and (proxy := proxy_from_environment(base_url, environ)):
            data["telegram"] = {**telegram, "proxy": proxy}
    if url := environ.get(DATABASE_ENV):
        data["database"] = {**data.get("database", {}), "url": url}
    if secret := environ.get(WEBHOOK_SECRET_ENV):
        data["webhook"] = {**data.get("webhook", {}), "secret_token": secret}
    try:
        return FigbotConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(source, exc)) from None


def load_config(
    path: str | os.PathLike[str] | None = None, *, environ: dict[str, str] | None = None
) -> FigbotConfig:
    """Load the config from ``path``, else ``$FIGBOT_CONFIG``, else ``./config.toml``."""
    environ = dict(os.environ) if environ is None else environ
    chosen = Path(path or environ.get(CONFIG_ENV) or "config.toml")
    try:
        raw = chosen.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{chosen}: config file not found (copy config.example.toml to config.toml)"
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{chosen}: not valid TOML: {exc}") from None
    return parse_config(data, source=chosen, environ=environ)
