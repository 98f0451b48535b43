"""The monthly report by email: on the Nth working day of the month (holidays and make-up days
counted), to the heads of the lead units, once; delivered as HTML through the real outbox."""

from __future__ import annotations

import asyncio
import random
from datetime import date, time

import pytest
from sqlalchemy import Engine, select

from monitor.alerts.dispatch import Dispatcher
from monitor.calendar.working_days import WorkCalendar
from monitor.clock import parse_instant
from monitor.config import NotifySettings, ReportSettings, Settings
from monitor.evaluation.engine import DurableMatcher
from monitor.periods import parse_period
from monitor.reports.mail import mail_monthly_report, mailing_day, recipients, report_due
from monitor.rulebook import load_rulebook
from monitor.store.db import session_factory
from monitor.store.models import Notification, Official, Unit
from notifiers.email import EmailNotifier, SmtpServer
from tests.conftest import MailServer
from tests.demo.test_demo import _import_examples
from tests.service.conftest import ROOT

CALENDAR = WorkCalendar()
RULEBOOK = load_rulebook(ROOT / "rules")


@pytest.mark.parametrize(
    ("month", "n", "expected"),
    [
        ("2024-10", 1, date(2024, 10, 8)),  # National Day week off; 10-12 is a make-up Saturday
        ("2024-10", 4, date(2024, 10, 11)),
        ("2024-10", 5, date(2024, 10, 12)),  # the make-up Saturday counts
        ("2025-02", 1, date(2025, 2, 5)),  # Spring Festival until 4 February
        ("2026-01", 1, date(2026, 1, 4)),  # New Year holiday 1-3 January; the 4th is a make-up Sunday
        ("2024-12", 1, date(2024, 12, 2)),  # 1 December a Sunday
    ],
)
def test_the_mailing_day_is_the_months_nth_working_day(month: str, n: int, expected: date) -> None:
    assert mailing_day(CALENDAR, parse_period(month), n) == expected


def test_a_year_the_calendar_lacks_falls_back_to_weekdays() -> None:
    strict = WorkCalendar(unannounced="strict")
    assert not strict.covers(2031)
    assert mailing_day(strict, parse_period("2031-03"), 1) == date(2031, 3, 3)  # Monday


def test_an_unannounced_year_mails_on_its_provisional_working_day() -> None:
    # 1-3 October 2031 are statutory holidays (Wednesday to Friday): the first working day is the 6th
    assert CALENDAR.is_provisional(2031)
    assert mailing_day(CALENDAR, parse_period("2031-10"), 1) == date(2031, 10, 6)


def test_the_report_is_due_from_the_day_and_time_on_for_the_month_before() -> None:
    settings = Settings(report=ReportSettings(mail_on_working_day=1, mail_time=time(9, 0)))
    assert report_due(CALENDAR, settings, parse_instant("2024-10-07T10:00")) is None  # a holiday
    assert report_due(CALENDAR, settings, parse_instant("2024-10-08T08:59")) is None
    assert report_due(CALENDAR, settings, parse_instant("2024-10-08T09:00")) == parse_period("2024-09")
    # still owed later in the month, should the daemon have been down on the day
    assert report_due(CALENDAR, settings, parse_instant("2024-10-31T23:00")) == parse_period("2024-09")
    # across the year end
    assert report_due(CALENDAR, settings, parse_instant("2025-01-02T09:00")) == parse_period("2024-12")
    off = Settings(report=ReportSettings(mail_on_working_day=0))
    assert report_due(CALENDAR, off, parse_instant("2024-10-08T09:00")) is None


@pytest.fixture
def district(engine: Engine) -> Engine:
    _import_examples(engine)
    return engine


def test_the_heads_of_the_lead_units_receive_it(district: Engine) -> None:
    lead_names = {name for rule in RULEBOOK for name in rule.lead_units}
    with session_factory(district)() as session:
        heads = {
            u.head_id for u in session.scalars(select(Unit)) if u.name in lead_names and u.head_id is not None
        }
        people = recipients(session, RULEBOOK, Settings())
        assert {p.id for p in people} == {
            h for h in heads if (o := session.get(Official, h)) is not None and o.email
        }
        assert people  # the example district has lead units with heads
        extra = recipients(session, RULEBOOK, Settings(report=ReportSettings(mail_to=("o-ldr1",))))
        assert {p.id for p in extra} == {p.id for p in people} | {"o-ldr1"}
        alone = Settings(report=ReportSettings(mail_lead_units=False, mail_to=("o-ldr1",)))
        assert [p.id for p in recipients(session, RULEBOOK, alone)] == ["o-ldr1"]


def test_it_is_queued_once_per_month_and_person(district: Engine) -> None:
    matcher = DurableMatcher(RULEBOOK)
    settings = Settings()
    with session_factory(district)() as session:
        early = parse_instant("2025-01-02T08:30")
        assert mail_monthly_report(session, RULEBOOK, CALENDAR, settings, matcher, early) == 0
        now = parse_instant("2025-01-02T09:05")
        queued = mail_monthly_report(session, RULEBOOK, CALENDAR, settings, matcher, now)
        session.commit()
        assert queued == len(recipients(session, RULEBOOK, settings)) > 0
        assert mail_monthly_report(session, RULEBOOK, CALENDAR, settings, matcher, now) == 0
        later = parse_instant("2025-01-20T10:00")
        assert mail_monthly_report(session, RULEBOOK, CALENDAR, settings, matcher, later) == 0
        rows = list(session.scalars(select(Notification).where(Notification.kind == "report")))
    assert len(rows) == queued
    row = rows[0]
    assert row.channel == "email" and row.status == "queued"
    assert row.subject == "【督办月报】宿豫区 2024-12"
    assert row.html is not None and "宿豫区优化营商环境督办月报（2024-12）" in row.html
    assert "通报批评" in row.text and "各单位按时率" in row.text
    # made on 2 January, of a finished December, with the rate's definition as on the page
    assert "截至 2025-01-02 09:05（北京时间）；本月已结束" in row.text and "按时率 = 按时办结" in row.text


def test_another_district_names_itself(district: Engine) -> None:
    settings = Settings(district="沭阳县")
    with session_factory(district)() as session:
        mail_monthly_report(
            session, RULEBOOK, CALENDAR, settings, DurableMatcher(RULEBOOK), parse_instant("2025-01-02T09:05")
        )
        row = session.scalars(select(Notification).where(Notification.kind == "report")).first()
    assert row is not None and row.subject == "【督办月报】沭阳县 2024-12"
    assert row.html is not None and "沭阳县" in row.html and "宿豫区" not in row.html


def test_the_report_arrives_as_html_mail(district: Engine, mail_server: MailServer) -> None:
    now = parse_instant("2025-01-02T09:05")
    with session_factory(district)() as session:
        queued = mail_monthly_report(session, RULEBOOK, CALENDAR, Settings(), DurableMatcher(RULEBOOK), now)
        session.commit()
    mail = EmailNotifier(
        SmtpServer.from_url(
            f"smtp://dutywatch:s3cret@localhost:{mail_server.port}?starttls=true",
            timeout=10,
            ca_file=mail_server.cert,
        ),
        "dutywatch@suyu.example.cn",
    )
    dispatcher = Dispatcher(
        session_factory(district), {"email": mail}, NotifySettings(), "w1", random.Random(1)
    )
    outcomes = asyncio.run(dispatcher.run_once(now))
    assert [o.status for o in outcomes] == ["sent"] * queued
    assert len(mail_server.inbox.messages) == queued
    message = mail_server.inbox.messages[0]
    parts = {part.get_content_type(): part for part in message.walk()}
    assert {"text/plain", "text/html"} <= set(parts)
    html_part = parts["text/html"].get_payload(decode=True)
    assert isinstance(html_part, bytes)
    assert "按时率趋势" in html_part.decode(parts["text/html"].get_content_charset() or "utf-8")
