"""The monthly report by email (制度十二): on the configured working day of each month the daemon
mails last month's report to the heads of the rules' lead units (牵头单位) and to the officials the
config names. Once per month and person: each message's idempotency key names the month, and the
outbox sends it like any other notification (retries, dead letters, no duplicates on failover).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.enqueue import notification_key
from monitor.calendar.working_days import CalendarNotCovered, WorkCalendar
from monitor.clock import SHANGHAI
from monitor.config import Settings
from monitor.evaluation.engine import Matcher
from monitor.periods import Period, period_of
from monitor.reports.monthly import MonthlyReport, monthly_report
from monitor.reports.ontime import format_rate
from monitor.reports.render import notes, to_html
from monitor.rulebook import Rulebook
from monitor.store.models import Notification, Official, Unit

log = logging.getLogger("dutywatch.report")


def mailing_day(calendar: WorkCalendar, month: Period, n: int) -> date:
    """The month's Nth working day; Monday to Friday stand in for a year the calendar lacks
    (a report a day early or late beats none)."""
    try:
        return calendar.add_workdays(month.start - timedelta(days=1), n)
    except CalendarNotCovered:
        day, seen = month.start, 0
        while True:
            if day.weekday() < 5:
                seen += 1
                if seen == n:
                    return day
            day += timedelta(days=1)


def report_due(calendar: WorkCalendar, settings: Settings, now: datetime) -> Period | None:
    """Last month, once this month's mailing day and time have come; None before, or when off.
    A daemon that was down on the day mails it when it is back, later in the month."""
    n = settings.report.mail_on_working_day
    if n == 0:
        return None
    local = now.astimezone(SHANGHAI)
    month = period_of("month", local.date())
    day = mailing_day(calendar, month, n)
    if (local.date(), local.time()) < (day, settings.report.mail_time):
        return None
    return month.previous()


def recipients(session: Session, rulebook: Rulebook, settings: Settings) -> list[Official]:
    """The heads of every unit a rule names as lead unit, and the configured officials, who have
    an email address."""
    ids = set(settings.report.mail_to)
    if settings.report.mail_lead_units:
        names = {name for rule in rulebook for name in rule.lead_units}
        ids |= {
            head for head in session.scalars(select(Unit.head_id).where(Unit.name.in_(sorted(names)))) if head
        }
    people = session.scalars(select(Official).where(Official.id.in_(sorted(ids))).order_by(Official.id))
    return [p for p in people if p.email]


def summary(report: MonthlyReport, district: str) -> str:
    """The plain-text part: the notice lists and each unit's on-time rate."""
    lines = [f"{district}优化营商环境督办月报（{report.period.label}）", ""]
    for title, names in (
        ("通报批评", report.criticism),
        ("约谈", report.interview),
        ("作风之星候选", report.stars),
    ):
        lines.append(f"{title}：{'、'.join(names) or '（无）'}")
    lines += ["", "各单位按时率（计入/按时/逾期办结/逾期未办，待办；诉求/按时反馈）："]
    for f in sorted(report.units, key=lambda f: (f.rate is None, f.rate or 0)):
        lines.append(
            f"{f.name}  {format_rate(f.rate)}  {f.due}/{f.on_time}/{f.late}/{f.missed}，{f.pending}；"
            f"{f.cases}/{f.cases_in_time}"
        )
    # the same words under the table as in the HTML part and on the status page
    lines += ["", *notes(report), "", "完整报表见本邮件的 HTML 版本；也可用 `dutywatch report` 导出 XLSX。"]
    return "\n".join(lines)


def mail_monthly_report(
    session: Session,
    rulebook: Rulebook,
    calendar: WorkCalendar,
    settings: Settings,
    matcher: Matcher,
    now: datetime,
) -> int:
    """Queue last month's report for whoever has not been sent it yet; returns how many.

    Cheap when there is nothing to do (a query on the outbox's keys); the report itself is
    computed only for the first tick that finds someone still owed it.
    """
    period = report_due(calendar, settings, now)
    if period is None:
        return 0
    people = recipients(session, rulebook, settings)
    keys = {p.id: notification_key("report", period.label, p.id, "email") for p in people}
    sent = set(session.scalars(select(Notification.key).where(Notification.key.in_(list(keys.values())))))
    owed = [p for p in people if keys[p.id] not in sent]
    if not owed:
        return 0
    report = monthly_report(session, rulebook, calendar, settings, period, matcher, now)
    html, text = to_html(report, settings.district), summary(report, settings.district)
    subject = f"【督办月报】{settings.district} {period.label}"
    for person in owed:
        session.add(
            Notification(
                key=keys[person.id],
                alert_id=None,
                kind="report",
                channel="email",
                recipient=person.id,
                subject=subject,
                text=text,
                html=html,
                status="queued",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )
    session.flush()
    log.info("monthly report %s queued for %d recipients", period.label, len(owed))
    return len(owed)
