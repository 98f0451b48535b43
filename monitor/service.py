"""The daemon's state and operations, apart from HTTP and the event loop: load and reload
config, rules and calendar; tick (evaluate now and commit); ingest; the heartbeat.

Evaluation runs on one dedicated thread (`executor`): the durable-rules matcher is not
thread-safe, and the event loop must stay free for the API while a tick runs.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.orm import Session

from monitor import calendar_coverage
from monitor.alerting import Transition, commit_evaluation, record_missing_obligations
from monitor.calendar import CalendarNotCovered, WorkCalendar, load_calendar
from monitor.changes import consume, pending_changes
from monitor.clock import local_date, utcnow
from monitor.config import Settings, load_settings
from monitor.engine import DurableMatcher
from monitor.evaluation import Evaluation, evaluate, gc_paused, uncomputable_summary, waivers
from monitor.heartbeat import write_heartbeat
from monitor.ingest.commit import commit_retrying
from monitor.ingest.events import ingest_events
from monitor.ingest.outcome import RecordOutcome
from monitor.leader import Leadership
from monitor.metrics import Metrics, Snapshot
from monitor.ontime import month_bounds
from monitor.outbox import Dispatcher, depth, enqueue, make_digests
from monitor.periods import period_of
from monitor.report_mail import mail_monthly_report
from monitor.reports import duties_due
from monitor.rulebook import Rulebook, load_rulebook
from monitor.steady import Baseline
from monitor.store.db import ensure_schema, make_engine, session_factory
from monitor.yamlsource import SourceError
from notifiers.base import Notifier

log = logging.getLogger("dutywatch")


@dataclass(frozen=True)
class Loaded:
    """Rules, calendar and the matcher compiled from them: replaced whole on reload."""

    rulebook: Rulebook
    calendar: WorkCalendar
    matcher: DurableMatcher


def _load(settings: Settings) -> Loaded:
    rulebook = load_rulebook(settings.rules_dir)
    calendar = load_calendar(settings.calendar.overrides_dir, settings.calendar.unannounced)
    return Loaded(rulebook, calendar, DurableMatcher(rulebook))


def worker_name() -> str:
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def channels_of(settings: Settings) -> tuple[str, ...]:
    """The configured channels; by default email when SMTP is configured, else the console."""
    if settings.notify.channels is not None:
        return settings.notify.channels
    return ("email",) if settings.smtp.url is not None else ("console",)


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def _base(url: str | None, default: str) -> str:
    return (url or default).rstrip("/")


def _wecom(settings: Settings) -> Notifier | None:
    from notifiers.robots import WecomNotifier

    v = settings.notify.vendors
    if not v.wecom_key:
        return None
    return WecomNotifier(_secret(v.wecom_key), base_url=_base(v.wecom_base_url, WecomNotifier.base_url))


def _dingtalk(settings: Settings) -> Notifier | None:
    from notifiers.robots import DingtalkNotifier

    v = settings.notify.vendors
    if not v.dingtalk_token:
        return None
    return DingtalkNotifier(
        _secret(v.dingtalk_token),
        _secret(v.dingtalk_secret),
        base_url=_base(v.dingtalk_base_url, DingtalkNotifier.base_url),
    )


def _webhook(settings: Settings) -> Notifier | None:
    from notifiers.robots import WebhookNotifier

    v = settings.notify.vendors
    return WebhookNotifier(v.webhook_url, _secret(v.webhook_secret)) if v.webhook_url else None


def _aliyun(settings: Settings) -> Notifier | None:
    from notifiers.sms import AliyunSmsNotifier

    v = settings.notify.vendors
    if not v.aliyun_access_key_id:
        return None
    return AliyunSmsNotifier(
        v.aliyun_access_key_id,
        _secret(v.aliyun_access_key_secret),
        v.aliyun_sign_name,
        v.aliyun_template_code,
        base_url=_base(v.aliyun_base_url, AliyunSmsNotifier.base_url),
    )


def _tencent(settings: Settings) -> Notifier | None:
    from notifiers.sms import TencentSmsNotifier

    v = settings.notify.vendors
    if not v.tencent_secret_id:
        return None
    return TencentSmsNotifier(
        v.tencent_secret_id,
        _secret(v.tencent_secret_key),
        v.tencent_sdk_app_id,
        v.tencent_sign_name,
        v.tencent_template_id,
        base_url=_base(v.tencent_base_url, TencentSmsNotifier.base_url),
    )


def _http_sms(settings: Settings) -> Notifier | None:
    from notifiers.sms import HttpSmsNotifier

    v = settings.notify.vendors
    if not v.sms_http_url:
        return None
    return HttpSmsNotifier(
        v.sms_http_url,
        v.sms_http_template,
        v.sms_http_method,
        v.sms_http_headers,
        v.sms_http_success_field,
        v.sms_http_success_value,
    )


VENDORS = {
    "wecom": _wecom,
    "dingtalk": _dingtalk,
    "webhook": _webhook,
    "sms-aliyun": _aliyun,
    "sms-tencent": _tencent,
    "sms-http": _http_sms,
}


def build_notifiers(settings: Settings, channels: tuple[str, ...]) -> dict[str, Notifier]:
    """Instances of the channels in use; a channel whose settings are missing is left out, and the
    dispatcher dead-letters its rows with that reason."""
    from notifiers.console import ConsoleNotifier, FileNotifier

    built: dict[str, Notifier] = {}
    for channel in channels:
        if channel == "console":
            built[channel] = ConsoleNotifier()
        elif channel == "file":
            built[channel] = FileNotifier(settings.notify.file_path)
        elif channel in VENDORS:
            vendor = VENDORS[channel](settings)
            if vendor is not None:
                built[channel] = vendor
        elif channel == "email" and settings.smtp.url is not None:
            from notifiers.email import EmailNotifier, SmtpServer

            server = SmtpServer.from_url(
                settings.smtp.url.get_secret_value(),
                timeout=settings.smtp.timeout_seconds,
                ca_file=settings.smtp.ca_file,
            )
            built[channel] = EmailNotifier(server, settings.smtp.sender, settings.notify.sender_name)
    return built


class Service:
    def __init__(self, settings: Settings, config_path: Path | None = None) -> None:
        self.settings = settings
        self.config_path = config_path
        self.engine = make_engine(
            settings.database_url,
            busy_timeout=settings.sqlite_busy_timeout_seconds,
            synchronous=settings.sqlite_synchronous,
        )
        ensure_schema(self.engine)
        self.sessions = session_factory(self.engine)
        self.metrics = Metrics()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dutywatch-eval")
        self.loaded = _load(settings)
        self.reload_ok = True
        self.last_tick: datetime | None = None
        self.last_queued = 0  # notifications, digests, reports the last tick queued: wake-ups
        self.last_changes: list[Transition] = []  # the alert transitions of the last tick
        # the last committed evaluation, continued by the next tick (leader only; monitor/steady.py)
        self.baseline: Baseline | None = None
        self._next_baseline: Baseline | None = None
        self._tick_lock = threading.Lock()
        self._recorded_month = ""  # the month whose duties this process has recorded whole
        self._calendar_warned: frozenset[int] = frozenset()  # years the log has named (no repeats)
        self.leadership = Leadership(self.engine)
        self.channels = channels_of(settings)
        self.dispatcher = Dispatcher(
            self.sessions, build_notifiers(settings, self.channels), settings.notify, worker_name()
        )

    async def dispatch(self) -> bool:
        """Send what is due, count the outcomes, refresh the outbox gauges; whether the batch was
        full (more may be due now)."""
        import asyncio

        now = utcnow()
        outcomes = await self.dispatcher.run_once(now)
        for outcome in outcomes:
            self.metrics.notifications.labels(outcome.channel, outcome.status).inc()

        def measure() -> tuple[int, float]:
            with self.sessions() as session:
                return depth(session, now)

        self.metrics.outbox_depth, self.metrics.outbox_oldest_seconds = await asyncio.to_thread(measure)
        return len(outcomes) >= self.dispatcher.BATCH

    def reload(self) -> tuple[bool, str]:
        """Reload config, rules and calendar; a broken file keeps the last good ones running.

        Settings that need a restart (database, listen address) keep their running values.
        """
        try:
            fresh = load_settings(self.config_path, db_url=self.settings.database_url)
            loaded = _load(fresh)
        except Exception as exc:  # whatever broke (a located SourceError, or worse), keep running
            self.reload_ok = self.metrics.reload_ok = False
            reason = str(exc) if isinstance(exc, SourceError) else f"{type(exc).__name__}: {exc}"
            log.error("reload failed, keeping the last good config and rules: %s", reason)
            return False, reason
        self.settings = fresh.model_copy(
            update={"database_url": self.settings.database_url, "listen": self.settings.listen}
        )
        self.loaded = loaded
        self.reload_ok = self.metrics.reload_ok = True
        log.info("config and rules reloaded: %d rules", len(loaded.rulebook.rules))
        return True, "reloaded"

    def tick(self, now: datetime | None = None) -> Evaluation:
        """Evaluate at now and commit; refresh the metrics snapshot and the heartbeat.

        Call on `executor` (one thread); the lock also guards direct callers such as tests.
        """
        with self._tick_lock:
            try:
                evaluation = self._tick(now)
            except Exception as exc:
                unreachable = isinstance(exc, DBAPIError | SATimeoutError)
                if unreachable:
                    self.metrics.database_up = False
                self.metrics.tick_failures.labels("database" if unreachable else "error").inc()
                raise
            self.metrics.database_up = True
            return evaluation

    def _evaluate(self, session: Session, at: datetime) -> Evaluation:
        """Continue the last evaluation when nothing but named subjects changed (monitor/steady.py),
        else evaluate everything; either way the change records read are consumed with the commit."""
        loaded, settings = self.loaded, self.settings
        changes = pending_changes(session, at)
        base, self.baseline = self.baseline, None  # whatever fails below, start afresh next time
        evaluation = None
        if base is not None and base.usable(session, at, loaded.rulebook, settings):
            evaluation = base.advance(session, at, changes)
        if evaluation is None:
            base = None
            evaluation = evaluate(session, loaded.rulebook, loaded.calendar, settings, at, loaded.matcher)
        consume(session, changes.ids)
        self._next_baseline = base or Baseline.of(
            evaluation, loaded.rulebook, settings, loaded.calendar, self.dispatcher.worker, waivers(session)
        )
        return evaluation

    def _tick(self, now: datetime | None) -> Evaluation:
        at = now or utcnow()
        loaded = self.loaded
        self._next_baseline = None
        with gc_paused(), self.sessions() as session:
            evaluation = self._evaluate(session, at)
            changes = commit_evaluation(session, evaluation, self.dispatcher.worker)
            self._record_month(session, at)
            queued = enqueue(
                session,
                loaded.rulebook,
                changes,
                at,
                self.channels,
                digest_below_level=self.settings.notify.digest_below_level,
                templates=self.settings.templates_dir,
                language=self.settings.language,
            )
            try:
                workday = loaded.calendar.is_workday(local_date(at))
            except CalendarNotCovered:
                workday = True  # no calendar for the year: send the digest rather than hold it
            # digests and the monthly report are notifications too: they wake the dispatcher
            others = make_digests(session, at, workday, self.settings.notify.digest_time)
            if "email" in self.channels:
                others += mail_monthly_report(
                    session, loaded.rulebook, loaded.calendar, self.settings, loaded.matcher, at
                )
            session.commit()
        self.baseline = self._next_baseline
        self.metrics.evaluation_seconds.observe(evaluation.seconds)
        self.metrics.publish(Snapshot.of(evaluation, self.coverage(at)))
        self.announce_calendar(at)
        write_heartbeat(self.settings.heartbeat_file, at)
        self.last_tick = at
        self.last_queued = queued + others
        self.last_changes = changes
        for problem in [*evaluation.problems, *uncomputable_summary(evaluation.obligations)]:
            log.warning("evaluation problem: %s", problem)
        log.info(
            "tick: %d alerts, %d transitions, %d notifications queued in %.3f s",
            len(evaluation.alerts),
            len(changes),
            queued,
            evaluation.seconds,
            extra={"fields": {"alerts": len(evaluation.alerts), "seconds": round(evaluation.seconds, 3)}},
        )
        return evaluation

    def _record_month(self, session: Session, at: datetime) -> None:
        """Record this month's duties the tick's view no longer holds, once per month and process.

        The status page counts the month from the recorded rows; the report collects every duty
        due in the month (monitor/reports.py). A duty met long before its due time leaves the
        tick's view after RECENT days, so a daemon started after that would never record it: the
        two would disagree. The duties present already keep their rows."""
        month = period_of("month", local_date(at))
        if self._recorded_month == month.label:
            return
        start, after = month_bounds(month)
        loaded = self.loaded
        duties = duties_due(session, loaded.rulebook, loaded.calendar, self.settings, start, after, at)
        record_missing_obligations(session, duties, at)
        self._recorded_month = month.label

    def coverage(self, now: datetime) -> dict[str, bool]:
        """Whether a notice covers this year and, from 1 November, the next (for the metric)."""
        # the same decision as every warning's (monitor/calendar_coverage.py): a provisional year
        # counts as uncovered, so the alert fires exactly when the words do
        return {
            str(y): official for y, official in calendar_coverage.coverage(self.loaded.calendar, now).items()
        }

    def announce_calendar(self, now: datetime) -> None:
        """Log at WARNING each year that lacks a State Council notice at `now`, once.

        The daemon calls it at start and every tick calls it, so a daemon running through
        1 November, or a reload that drops a notice, says it too; a year stays unsaid while it
        stays warned about, and is said again if its notice goes and comes back.
        """
        warnings = calendar_coverage.coverage_warnings(self.loaded.calendar, now)
        for warning in warnings:
            if warning.year not in self._calendar_warned:
                log.warning(
                    "calendar: %s",
                    warning.message,
                    extra={"fields": {"year": warning.year, "mode": warning.mode}},
                )
        self._calendar_warned = frozenset(w.year for w in warnings)

    def ingest(self, records: list[tuple[str, object]]) -> list[RecordOutcome]:
        """Validate and commit events; counts each outcome in the metrics."""
        now = utcnow()
        outcomes = commit_retrying(
            self.sessions, lambda session: ingest_events(session, records, now=now, settings=self.settings)
        )
        self.metrics.count_ingested([r for _, r in records], outcomes)
        return outcomes

    def database_ok(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:  # any failure means "not reachable"
            self.metrics.database_up = False
            return False
        self.metrics.database_up = True
        return True

    def lead(self) -> bool:
        """Poll the leadership; only the leader ticks and dispatches."""
        leader = self.leadership.poll()
        self.metrics.leader = leader
        return leader

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.leadership.release()
        self.engine.dispose()
