"""The daemon's configuration: one frozen, typed object validated at load.

Precedence: built-in defaults < `config/dutywatch.yaml` < environment (`DUTYWATCH_*`).
Secrets come from the environment or from a file named by `<NAME>_FILE` (Docker/systemd
secrets), never from the YAML in clear if the operator does not want that.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from monitor.yamlsource import SourceError, YamlDocument, load_yaml_mapping, pydantic_errors
from notifiers import unknown_channel

DEFAULT_CONFIG = Path("config/dutywatch.yaml")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CalendarSettings(_Frozen):
    overrides_dir: Path = Path("config/calendar")
    # The end of a working day for deadlines; some offices use closing time (e.g. 17:30).
    end_of_day: time = time(23, 59, 59)
    # A year whose State Council notice is not loaded: `provisional` derives its rest days from
    # the law and marks what rests on them; `strict` refuses to count in it (those duties only).
    unannounced: Literal["provisional", "strict"] = "provisional"


class IngestSettings(_Frozen):
    max_batch: int = Field(10_000, ge=1)
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    # Importing years of history is normal; a timestamp before this or too far ahead is a typo.
    earliest: date = date(2000, 1, 1)
    max_future_hours: float = Field(24.0, ge=0)
    # events that immediate rules wait for start an evaluation at once, but not sooner than this
    # after the last one started. 0: bursts still coalesce (one evaluation runs, at most one
    # waits) and a scoped evaluation costs milliseconds, so a floor only delays the alert; a
    # district with a very heavy stream may trade latency for CPU here
    immediate_interval_seconds: float = Field(0.0, ge=0)
    # ... when they happened at most this long ago: news must not wait, history may. A backfill
    # posted over HTTP (last year's cases in batches) woke an evaluation per request and halved
    # the ingest rate (S on SQLite: 2.4k instead of 5.5k events/s); older events wait for the tick
    immediate_within_hours: float = Field(72.0, gt=0)
    # An XLSX import is a zip of XML: a few MB can inflate to GB. What its parts may inflate to
    # (64 MiB) and how many rows one file may hold (200,000); see monitor/ingest/workbook.py.
    max_xlsx_inflated_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    max_import_rows: int = Field(200_000, ge=1)


class CaseSettings(_Frozen):
    # case-repeat-report: the same enterprise and category again within this many days of a close.
    repeat_window_days: int = Field(90, ge=1)
    # hotline-order-deadline: working days for an order that carries no due time, by category.
    hotline_default_working_days: int = Field(5, ge=0)
    hotline_working_days_by_category: dict[str, int] = Field(default_factory=dict)


class HttpSettings(_Frozen):
    """The HTTP server's defences against idle, slow and hostile clients (docs/reliability.md)."""

    # a connection that has not sent a complete request head this long after it opened (or after
    # its last response) is cut off, so idle or trickling clients cannot hold connection slots
    head_timeout_seconds: float = Field(5.0, gt=0, le=300)
    # once its head is in, a request's body must arrive at least this fast, judged over windows of
    # head_timeout_seconds in which the server was ready to read (0: no minimum)
    min_body_bytes_per_second: int = Field(240, ge=0, le=1_000_000)
    # an idle keep-alive connection is closed after this long
    keep_alive_seconds: int = Field(5, ge=1, le=300)
    # connections at once; past it, the one that has waited longest for a request head is cut
    # off to make room, and requests still over the limit get 503
    max_connections: int = Field(512, ge=8, le=100_000)
    # connections one client address may hold at once (trusted proxies are exempt): one
    # address cannot take every slot
    max_connections_per_client: int = Field(64, ge=1, le=100_000)
    # peers (addresses or networks) whose X-Forwarded-For / X-Forwarded-Proto are believed;
    # none by default, so a client cannot choose the "from where" of the audit log
    trusted_proxies: tuple[str, ...] = ()

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value


def smtp_url_problem(url: str) -> None:
    """Raise ValueError saying what is wrong with an SMTP URL, without repeating it."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("must look like smtp://user:password@host:port (or smtps://)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if port == 0:
        raise ValueError("the port must be a number from 1 to 65535")


class SmtpSettings(_Frozen):
    url: SecretStr | None = None
    sender: str = "dutywatch@localhost"
    timeout_seconds: float = 30.0
    # the wait for the reply to a message's end (RFC 5321: ten minutes; sooner, a slow server
    # that did take it gets it twice)
    data_timeout_seconds: float = Field(600.0, gt=0)
    ca_file: Path | None = None  # trust a private mail server's certificate

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr | None) -> SecretStr | None:
        # checked here, not when the first mail goes out: a bad port used to pass check-config and
        # then stop the daemon with a traceback. The reason never repeats the URL (a password).
        if value is not None:
            smtp_url_problem(value.get_secret_value())
        return value


class VendorSettings(_Frozen):
    """The vendor channels' settings as the file gives them, one flat section; each channel is
    built from its own model (notifiers/), filled from the keys under its prefix
    (`VENDOR_PREFIXES`, `Settings.channel_values`). Secrets come best from the environment
    (DUTYWATCH_WECOM_KEY, …, or *_FILE)."""

    wecom_key: SecretStr | None = None
    dingtalk_token: SecretStr | None = None
    dingtalk_secret: SecretStr | None = None
    aliyun_access_key_id: str | None = None
    aliyun_access_key_secret: SecretStr | None = None
    aliyun_sign_name: str = ""
    aliyun_template_code: str = ""
    tencent_secret_id: str | None = None
    tencent_secret_key: SecretStr | None = None
    tencent_sdk_app_id: str = ""
    tencent_sign_name: str = ""
    tencent_template_id: str = ""
    sms_http_url: str | None = None
    sms_http_method: str = "POST"
    sms_http_template: str = ""
    sms_http_headers: dict[str, str] = Field(default_factory=dict)
    sms_http_success_field: str | None = None
    sms_http_success_value: str | None = None
    sms_http_sign_name: str = ""
    sms_http_sign_in_text: bool = True
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    # the vendors' public endpoints by default; a government network may reach them through a
    # gateway of its own
    wecom_base_url: str | None = None
    dingtalk_base_url: str | None = None
    aliyun_base_url: str | None = None
    tencent_base_url: str | None = None

    @field_validator("aliyun_sign_name", "tencent_sign_name", "sms_http_sign_name")
    @classmethod
    def _sign_name(cls, value: str) -> str:
        # the name as the vendor registered it: the phone shows it in 【】, which the vendor (or
        # the HTTP gateway's channel) adds; given with them it would show 【【宿豫营商】】
        if "【" in value or "】" in value:
            raise ValueError(
                f"a sign_name is the signature without 【】: {value.strip('【】')!r}, not {value!r}"
            )
        return value.strip()


# Where each vendor channel's settings are in `notify.vendors`: the keys under its prefix, less the
# prefix, are its settings model's fields (aliyun_access_key_id is sms-aliyun's access_key_id).
VENDOR_PREFIXES = {
    "wecom": "wecom_",
    "dingtalk": "dingtalk_",
    "webhook": "webhook_",
    "sms-aliyun": "aliyun_",
    "sms-tencent": "tencent_",
    "sms-http": "sms_http_",
}


def _channel(name: str) -> str:
    reason = unknown_channel(name)
    if reason is not None:
        raise ValueError(reason)
    return name


# A channel's name, checked against the registry (notifiers/__init__.py) when the config loads:
# a typo is refused naming the channels there are, rather than dead-lettering at send time.
ChannelName = Annotated[str, AfterValidator(_channel)]


def _window(value: str) -> tuple[time, time]:
    start, _, end = value.partition("-")
    try:
        return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
    except ValueError:
        raise ValueError(f"quiet hours must look like 22:00-08:00, not {value!r}") from None


class NotifySettings(_Frozen):
    # channels every recipient is told on; None: email when SMTP is configured, else the console
    channels: tuple[ChannelName, ...] | None = None
    file_path: Path = Path("var/notifications.jsonl")
    dispatch_seconds: float = Field(5.0, gt=0)
    max_attempts: int = Field(12, ge=1)
    backoff_seconds: float = Field(30.0, gt=0)  # first retry; doubles each attempt, with jitter
    max_backoff_seconds: float = Field(3600.0, gt=0)
    lease_seconds: float = Field(300.0, gt=0)  # a claim older than this was lost in a crash: retry it
    sender_name: str = "宿豫区营商环境督办"
    # per-channel sending limits (WeCom and DingTalk robots throttle past 20 a minute)
    rate_per_minute: dict[ChannelName, int] = Field(default_factory=lambda: {"wecom": 20, "dingtalk": 20})
    # warnings and overdue alerts below this level wait for the daily digest (working days only);
    # higher escalations and immediate rules go out at once
    digest_time: time = time(8, 30)
    digest_below_level: int = Field(2, ge=0)
    # per channel, "HH:MM-HH:MM" in Asia/Shanghai: messages wait until the window ends, never dropped
    quiet_hours: dict[ChannelName, str] = Field(
        default_factory=lambda: {
            "sms-aliyun": "22:00-08:00",
            "sms-tencent": "22:00-08:00",
            "sms-http": "22:00-08:00",
        }
    )
    vendors: VendorSettings = VendorSettings()

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: dict[str, str]) -> dict[str, str]:
        for window in value.values():
            _window(window)
        return value

    def quiet_window(self, channel: str) -> tuple[time, time] | None:
        window = self.quiet_hours.get(channel)
        return _window(window) if window else None


class ReportSettings(_Frozen):
    """Thresholds of the monthly notice (制度十二), on the on-time rate of a unit's duties and cases."""

    criticism_below: float = Field(0.8, ge=0, le=1)  # a notice of criticism (通报批评)
    interview_below: float = Field(0.6, ge=0, le=1)  # an interview (约谈)
    star_at_least: float = Field(0.95, ge=0, le=1)  # candidates for 作风之星
    stars: int = Field(3, ge=0)
    # The daemon mails last month's report by email on this working day of the month, from
    # `mail_time` (Asia/Shanghai), to the heads of the rules' lead units and to `mail_to`
    # (official ids); 0 turns the mailing off.
    mail_on_working_day: int = Field(1, ge=0, le=10)
    mail_time: time = time(9, 0)
    mail_lead_units: bool = True
    mail_to: tuple[str, ...] = ()


class InhibitRule(_Frozen):
    """While `source` fires for the same subject (and period) at a state at least as severe,
    alerts of the `targets` are held back: visible, marked inhibited, not notified."""

    source: str
    targets: tuple[str, ...] = Field(min_length=1)
    equal: tuple[Literal["subject", "period"], ...] = ("subject", "period")


class LinkSettings(_Frozen):
    """Signed action links in notifications (monitor/alerts/links.py); none without `public_url`."""

    # the address officials' phones reach the daemon at, as the reverse proxy publishes it
    public_url: str | None = None
    ttl_hours: float = Field(96.0, gt=0, le=24 * 31)
    # DUTYWATCH_LINK_SECRET (or *_FILE); without one, a key is made and kept in the database
    secret: SecretStr | None = None

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("public_url must be an http(s) URL without query or fragment")
        return value.rstrip("/")


class TokenSettings(_Frozen):
    name: str
    sha256: str
    scopes: tuple[str, ...]


class Settings(_Frozen):
    """Everything the daemon and the CLI need to know before they touch the database."""

    database_url: str = "sqlite:///var/dutywatch.db"
    # how long a SQLite writer waits for another's lock before giving up (503 to API clients)
    sqlite_busy_timeout_seconds: float = Field(30.0, gt=0, le=600)
    # NORMAL survives a crash of the process but may lose the last commits on power loss or an
    # OS crash; FULL syncs the log at every commit (docs/reliability.md)
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    rules_dir: Path = Path("rules")
    templates_dir: Path = Path("config/templates")
    listen: str = "127.0.0.1:8080"
    http: HttpSettings = HttpSettings()
    tick_seconds: float = Field(60.0, gt=0)
    # A tick between two day boundaries re-derives only what changed (monitor/evaluation/steady.py); at
    # least this often it evaluates everything anyway. 0: every tick evaluates everything.
    full_evaluation_seconds: float = Field(3600.0, ge=0)
    # The daemon's ticks evaluate in a process of their own, so that a full tick's Python does not
    # slow the API (docs/scaling.md); false: on a thread of the daemon (one process, ~100 MB less)
    evaluation_process: bool = True
    heartbeat_file: Path = Path("var/heartbeat")
    heartbeat_max_age_seconds: float = Field(180.0, gt=0)
    language: str = "zh"
    district: str = Field("宿豫区", min_length=1, max_length=40)  # named on pages, reports and mail
    calendar: CalendarSettings = CalendarSettings()
    ingest: IngestSettings = IngestSettings()
    cases: CaseSettings = CaseSettings()
    smtp: SmtpSettings = SmtpSettings()
    notify: NotifySettings = NotifySettings()
    report: ReportSettings = ReportSettings()
    # the monthly visit alert says all the monthly contact alert would
    inhibit: tuple[InhibitRule, ...] = (
        InhibitRule(source="pairing-monthly-visit", targets=("pairing-monthly-contact",)),
    )
    tokens: tuple[TokenSettings, ...] = ()
    links: LinkSettings = LinkSettings()
    # /metrics carries per-unit compliance figures: a token (scope metrics or read) by default
    metrics_require_token: bool = True
    source: str = "(defaults)"

    def channel_values(self, channel: str) -> dict[str, Any]:
        """A channel's settings as this file lays them out, named by its settings model's fields
        (notifiers/): email's from `smtp` and `notify.sender_name`, file's `notify.file_path`, the
        vendors' from `notify.vendors` (`VENDOR_PREFIXES`); none for the console."""
        if channel == "email":
            smtp = self.smtp
            return {
                "url": smtp.url,
                "sender": smtp.sender,
                "sender_name": self.notify.sender_name,
                "timeout_seconds": smtp.timeout_seconds,
                "data_timeout_seconds": smtp.data_timeout_seconds,
                "ca_file": smtp.ca_file,
            }
        if channel == "file":
            return {"path": self.notify.file_path}
        prefix = VENDOR_PREFIXES.get(channel)
        if prefix is None:
            return {}
        vendors = self.notify.vendors
        return {
            key.removeprefix(prefix): getattr(vendors, key)
            for key in VendorSettings.model_fields
            if key.startswith(prefix)
        }

    def channels(self) -> tuple[str, ...]:
        """The notification channels in use: those configured; by default email when SMTP is
        configured, else the console."""
        if self.notify.channels is not None:
            return self.notify.channels
        return ("email",) if self.smtp.url is not None else ("console",)

    def sms_signatures(self) -> dict[str, str]:
        """The signature each configured SMS channel puts before every message, as the phone shows
        it (`【宿豫营商】` for sign_name 宿豫营商): its characters count toward the message's
        parts. The vendor prints it (Alibaba Cloud's and Tencent Cloud's SignName), or the HTTP
        gateway's channel puts it before the text, or its platform prints it: never the
        template, so it is there and counted once."""
        names = {
            channel: self.channel_values(channel).get("sign_name") for channel in self.notify.channels or ()
        }
        return {channel: f"【{name}】" for channel, name in names.items() if name}

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in ("zh", "en"):
            raise ValueError("language must be zh or en")
        return value

    @field_validator("inhibit")
    @classmethod
    def _inhibit(cls, value: tuple[InhibitRule, ...]) -> tuple[InhibitRule, ...]:
        from monitor.rulebook import RULE_IDS

        for rule in value:
            for rule_id in (rule.source, *rule.targets):
                if rule_id not in RULE_IDS:
                    raise ValueError(f"inhibit names unknown rule {rule_id!r}")
        return value

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("listen must be host:port")
        return value


def secret_from_env(name: str, environ: dict[str, str] | None = None) -> str | None:
    """`NAME` from the environment, or the contents of the file `NAME_FILE` names."""
    env = os.environ if environ is None else environ
    if env.get(name):
        return env[name]
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise SourceError(path, 0, f"cannot read {name}_FILE: {reason}") from None
    return None


def _environment_overrides(env: dict[str, str]) -> dict[str, Any]:
    """What the environment sets, shaped as the config file's sections (_ENV_PATHS)."""
    return _set_only(
        {
            "database_url": env.get("DUTYWATCH_DB_URL"),
            "listen": env.get("DUTYWATCH_LISTEN"),
            "smtp": _smtp_from_env(env),
            "notify": _notify_from_env(env),
            "links": _links_from_env(env),
        }
    )


def _set_only(values: dict[str, Any]) -> dict[str, Any]:
    """The values a variable set: an empty one overrides nothing."""
    return {key: value for key, value in values.items() if value}


def _smtp_from_env(env: dict[str, str]) -> dict[str, Any]:
    return _set_only(
        {"url": secret_from_env("DUTYWATCH_SMTP_URL", env), "sender": env.get("DUTYWATCH_SMTP_FROM")}
    )


def _notify_from_env(env: dict[str, str]) -> dict[str, Any]:
    """The vendors' secrets (SECRET_ENV)."""
    vendors = _set_only({key: secret_from_env(env_name, env) for env_name, key in SECRET_ENV.items()})
    return {"vendors": vendors} if vendors else {}


def _links_from_env(env: dict[str, str]) -> dict[str, Any]:
    return _set_only(
        {
            "secret": secret_from_env("DUTYWATCH_LINK_SECRET", env),
            "public_url": env.get("DUTYWATCH_PUBLIC_URL"),
        }
    )


SECRET_ENV = {
    "DUTYWATCH_WECOM_KEY": "wecom_key",
    "DUTYWATCH_DINGTALK_TOKEN": "dingtalk_token",
    "DUTYWATCH_DINGTALK_SECRET": "dingtalk_secret",
    "DUTYWATCH_ALIYUN_ACCESS_KEY_SECRET": "aliyun_access_key_secret",
    "DUTYWATCH_TENCENT_SECRET_KEY": "tencent_secret_key",
    "DUTYWATCH_WEBHOOK_SECRET": "webhook_secret",
}

# Where each environment variable lands, so that a bad value is blamed on the variable, not on
# the line of the file it overrode.
_ENV_PATHS: dict[str, tuple[str, ...]] = {
    "DUTYWATCH_DB_URL": ("database_url",),
    "DUTYWATCH_LISTEN": ("listen",),
    "DUTYWATCH_SMTP_URL": ("smtp", "url"),
    "DUTYWATCH_SMTP_FROM": ("smtp", "sender"),
    "DUTYWATCH_LINK_SECRET": ("links", "secret"),
    "DUTYWATCH_PUBLIC_URL": ("links", "public_url"),
    **{name: ("notify", "vendors", key) for name, key in SECRET_ENV.items()},
}


def _env_culprit(loc: tuple[str | int, ...], env: dict[str, str]) -> str | None:
    """The environment variable that set the value at `loc`, if one did."""
    for name, path in _ENV_PATHS.items():
        if loc[: len(path)] == path and (env.get(name) or env.get(f"{name}_FILE")):
            return name
    return None


def _merge(base: Any, override: Any) -> Any:
    """Nested dictionaries merged key by key; anything else replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in override.items()}}
    return override


def load_settings(
    path: Path | None = None, *, db_url: str | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Load the config file (if present) with environment overrides; raises SourceError.

    An explicitly named file that does not exist is an error; the default path may be absent.
    """
    env = dict(os.environ if environ is None else environ)
    explicit = path is not None or bool(env.get("DUTYWATCH_CONFIG"))
    config_path = path or Path(env.get("DUTYWATCH_CONFIG") or DEFAULT_CONFIG)
    raw: dict[str, Any] = {}
    doc: YamlDocument | None = None
    if config_path.exists():
        doc = load_yaml_mapping(config_path)
        raw = dict(doc.data)
    elif explicit:
        raise SourceError(str(config_path), 0, "config file not found")
    for key, value in _environment_overrides(env).items():
        raw[key] = _merge(raw.get(key), value)
    if db_url:
        raw["database_url"] = db_url
    raw["source"] = str(config_path) if doc is not None else "(defaults)"
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        culprit = _env_culprit(loc, env)
        if culprit is not None:
            where = ".".join(str(p) for p in loc)
            raise SourceError(f"${culprit}", 0, f"{where}: {first['msg']}") from None
        if doc is None:
            doc = YamlDocument(str(config_path), raw, None)
        raise pydantic_errors(doc, exc)[0] from None


def config_problems(path: Path | None = None, environ: dict[str, str] | None = None) -> list[SourceError]:
    """Every problem in the config file (not just the first), for `check-config`."""
    env = dict(os.environ if environ is None else environ)
    config_path = path or Path(env.get("DUTYWATCH_CONFIG") or DEFAULT_CONFIG)
    if not config_path.exists():
        return [SourceError(str(config_path), 0, "config file not found")] if path else []
    try:
        doc = load_yaml_mapping(config_path)
    except SourceError as exc:
        return [exc]
    raw = dict(doc.data)
    raw["source"] = str(config_path)
    try:
        Settings.model_validate(raw)
    except ValidationError as exc:
        return pydantic_errors(doc, exc)
    return []


def salvage_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Settings from the keys of a broken config file that are valid on their own, so that
    `check-config` still checks the rules and calendar the file points at."""
    env = dict(os.environ if environ is None else environ)
    config_path = path or Path(env.get("DUTYWATCH_CONFIG") or DEFAULT_CONFIG)
    try:
        raw = dict(load_yaml_mapping(config_path).data)
    except SourceError:
        return Settings()
    good: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            Settings.model_validate({key: value})
        except ValidationError:
            continue
        good[key] = value
    return Settings.model_validate(good)
