"""The demo district's history: a year of the events that meet (or miss) each obligation.

Every duty of docs/policy/obligations.md gets events: pairings visit, contact, brief and match; units hold
forums, salons and coordination meetings (major cases on the agenda) and publish monthly
notices; cases run from receipt to feedback, closing and sometimes reopening; reviews are given
and bad ones rectified; the project's checklist items get done. Most on time, some late, some
never, and the last weeks before the end leave duties still open, so that each rule has
something to say at the end. Events fall on working days (make-up ones included), except one
case sent in online over a weekend.
"""

from __future__ import annotations

import bisect
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from monitor.calendar.working_days import CalendarNotCovered, WorkCalendar
from monitor.clock import SHANGHAI
from monitor.periods import Period, PeriodKind, periods_between

CATEGORIES = ["用地", "用工", "融资", "证照", "环保", "水电气", "物流", "政策兑现"]
CASE_UNITS = ["u-spj", "u-scjg", "u-fgj", "u-zs", "u-shh", "u-kfq", "u-jt"]
REVIEW_UNITS = ["u-spj", "u-scjg", "u-shh", "u-yx", "u-xx", "u-jt"]
# working days to feedback a case of each complexity gets when it is on time (major: no clock,
# but an answer after the meeting)
FEEDBACK_DAYS = {"simple": 0, "complex": 5, "major": 10}
# the channels whose cases a coordinating unit receives and assigns on (派单)
RECEIVED_BY = {"hotline": "u-zhzx", "platform": "u-ysb"}
PARTNERS = ["恒通供应链", "金誉电子", "润泽包装", "瑞丰物流", "华宇新材料"]  # upstream and downstream
ESCORT = "o-gxj-head"  # the head of 区工信局 goes along when a district leader visits
MEETINGS_UNIT = "u-gxj"  # 区工信局: forums and the bimonthly coordination meeting
NO_SALON_THIS_YEAR = "u-fgj"  # 区发改局, an indicator lead, has not held this year's salon


@dataclass
class History:
    """The events being written, with the working days of [start, end] to place them on."""

    rng: random.Random
    calendar: WorkCalendar
    start: date
    end: date
    days: list[date] = field(init=False)
    _events: list[tuple[datetime, int, str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        span = (self.end - self.start).days + 1
        self.days = [d for d in (self.start + timedelta(days=n) for n in range(span)) if self.is_working(d)]

    def is_working(self, day: date) -> bool:
        try:
            return self.calendar.is_workday(day)
        except CalendarNotCovered:
            return False

    def workdays(self, first: date, last: date) -> list[date]:
        """The history's working days from first to last."""
        return self.days[bisect.bisect_left(self.days, first) : bisect.bisect_right(self.days, last)]

    def workday_after(self, day: date, n: int) -> date | None:
        """The Nth working day after `day` (0: `day` or the next working day); None when the
        calendar lacks the year."""
        try:
            return self.calendar.add_workdays(day, n)
        except CalendarNotCovered:
            return None

    def after(self, day: date, n: int) -> date | None:
        """The Nth working day after `day`, if it is in the history (not past its end)."""
        later = self.workday_after(day, n)
        return later if later is not None and later <= self.end else None

    def at(self, day: date, start_hour: int = 9, end_hour: int = 17) -> datetime:
        """A time of office hours on the day."""
        minute = self.rng.randrange(start_hour * 60, end_hour * 60)
        return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=SHANGHAI)

    def pick(self, days: list[date], lo: float = 0.0, hi: float = 1.0) -> date | None:
        """A day between the lo and hi fractions of the list; None when it is empty."""
        first = int(len(days) * lo)
        return self.rng.choice(days[first : max(int(len(days) * hi), first + 1)]) if days else None

    def add(self, prefix: str, event_type: str, when: datetime, **fields: Any) -> None:
        assert when.date() <= self.end, f"{event_type} at {when} is after the end of the history"
        self._events.append((when, len(self._events), prefix, {"type": event_type, **fields}))

    def in_time_order(self) -> list[dict[str, Any]]:
        """The events in time order, with ids like `v-2024-03-0007` (the 7th visit of March 2024)."""
        counters: dict[str, int] = defaultdict(int)
        out: list[dict[str, Any]] = []
        for when, _, prefix, body in sorted(self._events, key=lambda e: (e[0], e[1])):
            key = f"{prefix}-{when:%Y-%m}"
            counters[key] += 1
            out.append(
                {"id": f"{key}-{counters[key]:04d}", "type": body["type"], "at": when.isoformat(), **body}
            )
        return out

    def periods(self, kind: PeriodKind, first: date | None = None, last: date | None = None) -> list[Period]:
        """The periods of the kind that overlap the history and lie wholly within [first, last]."""
        lo, hi = max(first or self.start, self.start), min(last or self.end, self.end)
        return [
            p
            for p in periods_between(kind, lo, hi)
            if (first is None or p.start >= first) and (last is None or p.end <= last)
        ]


def year_of_events(h: History, roster: dict[str, Any]) -> None:
    """Write the history of every duty of the roster into `h`."""
    pairing_duties(h, roster)
    majors = cases(h, [e["id"] for e in roster["enterprises"]])
    unit_duties(h, [u["id"] for u in roster["units"] if u.get("indicator_lead")], majors)
    reviews(h)
    project_progress(h, roster["projects"][0])


def pairing_duties(h: History, roster: dict[str, Any]) -> None:
    """Visits, contacts, briefings and matchmaking of each pairing, for the periods it owes."""
    staff: dict[str, list[str]] = defaultdict(list)
    for official in roster["officials"]:
        if official["role"] == "staff":
            staff[official["unit"]].append(official["id"])
    leaders = {o["id"] for o in roster["officials"] if o["role"] == "district_leader"}
    last_full_month = h.periods("month")[-2]
    for i, entry in enumerate(roster["pairings"]):
        pairing = _Pairing.of(i, entry, staff, leaders)
        for month in h.periods("month", pairing.first, pairing.last):
            if not _month_missed(h, pairing, month, last_full_month):
                visits_and_contacts(h, pairing, month)
        briefings(h, pairing)
        matchmaking(h, pairing)


@dataclass(frozen=True)
class _Pairing:
    """A pairing of the roster as its duties are written: `n`, its place in the roster, picks
    the ones whose duties are scripted to be missed."""

    n: int
    enterprise: str
    first: date
    last: date | None
    who: str  # its official, or else the first staff member of its unit
    visitors: dict[str, Any]  # a district leader visits with an escort
    briefer: dict[str, Any]  # a unit's pairing briefs as the unit

    @classmethod
    def of(cls, n: int, entry: dict[str, Any], staff: dict[str, list[str]], leaders: set[str]) -> _Pairing:
        who = entry.get("official") or staff[entry["unit"]][0]
        return cls(
            n=n,
            enterprise=entry["enterprise"],
            first=date.fromisoformat(entry["from"]),
            last=date.fromisoformat(entry["to"]) if "to" in entry else None,
            who=who,
            visitors={"officials": [who, ESCORT]} if who in leaders else {"official": who},
            briefer={"unit": entry["unit"]} if "unit" in entry else {"official": who},
        )


def _month_missed(h: History, pairing: _Pairing, month: Period, last_full_month: Period) -> bool:
    if month.contains(h.end):
        return pairing.n % 3 == 0  # not visited yet this month: reminders near its end
    # a month missed: now and then, and on the last full month for one pairing in ten
    return h.rng.random() < 0.06 or (month == last_full_month and pairing.n % 10 == 5)


def visits_and_contacts(h: History, pairing: _Pairing, month: Period) -> None:
    """A visit (with a talk with the head, mostly) and, every other month or so, a contact."""
    days = h.workdays(month.start, month.end)
    if visited := h.pick(days):
        talked = h.rng.random() > 0.05
        h.add(
            "v",
            "visit",
            h.at(visited),
            **pairing.visitors,
            enterprise=pairing.enterprise,
            talked_with_head=talked,
        )
    if (contacted := h.pick(days)) and h.rng.random() < 0.5:
        channel = h.rng.choice(["phone", "wechat", "platform"])
        h.add(
            "k",
            "contact",
            h.at(contacted),
            official=pairing.who,
            enterprise=pairing.enterprise,
            channel=channel,
        )


def briefings(h: History, pairing: _Pairing) -> None:
    """A policy briefing each half-year; one in ten missed, and a quarter of the pairings have not
    briefed yet in the current one."""
    for half in h.periods("half", pairing.first, pairing.last):
        skipped = pairing.n % 4 == 1 if half.contains(h.end) else h.rng.random() < 0.1
        if (briefed := h.pick(h.workdays(half.start, half.end))) and not skipped:
            h.add("b", "policy_briefing", h.at(briefed), **pairing.briefer, enterprises=[pairing.enterprise])


def matchmaking(h: History, pairing: _Pairing) -> None:
    """A matchmaking with an upstream or downstream partner each year, most years."""
    for year in h.periods("year", pairing.first, pairing.last):
        done = h.rng.random() < (0.7 if year.contains(h.end) else 0.9)
        if (matched := h.pick(h.workdays(year.start, year.end))) and done:
            partner = f"宿迁{h.rng.choice(PARTNERS)}有限公司"
            h.add(
                "mm",
                "matchmaking",
                h.at(matched),
                official=pairing.who,
                enterprise=pairing.enterprise,
                partner=partner,
            )


def unit_duties(h: History, indicator_leads: list[str], majors: list[tuple[str, date]]) -> None:
    """Forums, salons, coordination meetings (taking the major cases waiting for one) and notices.

    The periods running at the end are still open: no forum or meeting yet, and one indicator
    lead has held no salon this year.
    """
    for half in h.periods("half"):
        if not half.contains(h.end) and (day := h.pick(h.workdays(half.start, half.end), 0.5, 0.9)):
            h.add("f", "forum", h.at(day, 14, 16), unit=MEETINGS_UNIT)
    for year in h.periods("year"):
        for unit in indicator_leads:
            skipped = year.contains(h.end) and unit == NO_SALON_THIS_YEAR
            if not skipped and (day := h.pick(h.workdays(year.start, year.end), 0.3, 0.9)):
                h.add("s", "salon", h.at(day, 14, 16), unit=unit)
    waiting = list(majors)
    for block in h.periods("bimonth"):
        if block.contains(h.end) or h.rng.random() < 0.1:
            continue  # the current block's meeting is still to come; one in ten is skipped
        if (day := h.pick(h.workdays(block.start, block.end), 0.6, 0.9)) is None:
            continue
        # a case goes on the agenda once there were two working days to prepare it
        ready = [case for case, received in waiting if (h.workday_after(received, 2) or date.max) <= day]
        waiting = [(case, received) for case, received in waiting if case not in ready]
        agenda = {"cases": ready} if ready else {}
        h.add("cm", "coordination_meeting", h.at(day, 9, 11), unit=MEETINGS_UNIT, **agenda)
    notices(h)


def notices(h: History) -> None:
    """The monthly notices, published on a working day of the next month, now and then after the
    10th; 区营商办's bad-review notice on the last full month and the hotline notice on the month
    before it never come."""
    months = h.periods("month")
    for month in [months[0].previous(), *months]:
        for unit, kind in (("u-spj", "bad_reviews"), ("u-ysb", "bad_reviews"), ("u-zhzx", "hotline")):
            if (unit, month) in (("u-ysb", months[-2]), ("u-zhzx", months[-3])):
                continue
            nth = h.rng.choices([2, 3, 5, 7, 8, 9, 10, 12, 14], [1, 2, 3, 3, 3, 3, 2, 1, 1])[0]
            if (day := h.after(month.end, nth)) is not None:
                h.add("rp", "report", h.at(day), unit=unit, kind=kind, period=month.label)


@dataclass
class _Case:
    """One case as the generator plans it."""

    id: str
    received: datetime
    enterprise: str
    category: str
    complexity: str
    channel: str
    handler: str
    due_days: int | None = None  # a hotline order's own limit, in working days


def cases(h: History, enterprises: list[str]) -> list[tuple[str, date]]:
    """About seventy cases through the year; returns the major ones a coordination meeting must take.

    Of the major cases, every third is escalated to 区营商办 (level 2) at once, the first other
    one received in the second half of the history is forgotten, and the rest wait for the next
    meeting.
    """
    majors: list[tuple[str, date]] = []
    closed: list[tuple[_Case, date]] = []
    major_count = 0
    forgotten = False
    base = h.days[:-12]
    for n in range(60):
        day = base[n * len(base) // 60]
        channel = h.rng.choice(["window", "platform", "visit", "forum", "supervisor", "hotline", "hotline"])
        case = _Case(
            id=f"C{day:%Y%m}{n:03d}",
            received=h.at(day),
            enterprise=enterprises[n % len(enterprises)],
            category=h.rng.choice(CATEGORIES),
            complexity=h.rng.choices(["simple", "complex", "major"], [0.55, 0.35, 0.1])[0],
            channel=channel,
            handler=h.rng.choice(CASE_UNITS),
            due_days=h.rng.choice([3, 5]) if channel == "hotline" else None,
        )
        _open(h, case)
        if case.complexity == "major":
            major_count += 1
            escalated = h.after(day, 1) if major_count % 3 == 1 else None
            if escalated is not None:
                h.add("es", "case_escalated", h.at(escalated), case=case.id, level=2)
            elif not forgotten and n >= 30:
                forgotten = True
            else:
                majors.append((case.id, day))
        roll = h.rng.random()
        if roll < 0.06:
            continue  # no feedback, ever
        limit = FEEDBACK_DAYS[case.complexity] if case.due_days is None else case.due_days
        late = h.rng.choice([1, 2, 3, 6]) if roll < 0.18 else 0
        answered = h.after(day, limit + late if late else h.rng.randint(0, limit))
        unsatisfied = n % 20 == 7 or h.rng.random() < 0.04
        if answered is not None and (closed_on := _answer_and_close(h, case, answered, unsatisfied)):
            closed.append((case, closed_on))
    _weekend_case(h, enterprises[5])
    _repeat_report(h, closed)
    _open_cases_at_the_end(h, enterprises, majors)
    return majors


def _open(h: History, case: _Case) -> None:
    """The case_opened event, and its assignment when a coordinating unit received it."""
    fields: dict[str, Any] = {}
    due = h.workday_after(case.received.date(), case.due_days) if case.due_days is not None else None
    if due is not None:
        fields["due"] = datetime.combine(due, time(18, 0), tzinfo=SHANGHAI).isoformat()
    receiver = RECEIVED_BY.get(case.channel, case.handler)
    h.add(
        "co",
        "case_opened",
        case.received,
        case=case.id,
        enterprise=case.enterprise,
        channel=case.channel,
        complexity=case.complexity,
        category=case.category,
        unit=receiver,
        summary=f"{case.category}问题",
        **fields,
    )
    if receiver != case.handler:
        assigned = case.received + timedelta(minutes=h.rng.randint(20, 120))
        if not h.is_working(case.received.date()) and (monday := h.after(case.received.date(), 1)):
            assigned = h.at(monday, 9, 10)  # received on a rest day: passed on when the office opens
        h.add("ca", "case_assigned", assigned, case=case.id, unit=case.handler)


def _answer_and_close(h: History, case: _Case, answered: date, unsatisfied: bool = False) -> date | None:
    """Feedback on the day, closing a few days later; an unsatisfied enterprise has it reopened,
    answered again and closed. Returns the day it was closed satisfied, if it was."""
    answered_at = max(h.at(answered), case.received + timedelta(hours=2))
    h.add("fb", "case_feedback", answered_at, case=case.id, unit=case.handler)
    closing = h.after(answered, h.rng.randint(0, 3))
    if closing is None:
        return None
    satisfaction = "unsatisfied" if unsatisfied else h.rng.choice(["satisfied"] * 4 + ["basically_satisfied"])
    closed_at = max(h.at(closing), answered_at + timedelta(hours=1))
    h.add("cl", "case_closed", closed_at, case=case.id, satisfaction=satisfaction)
    if satisfaction != "unsatisfied":
        return closing
    reopened, again = h.after(closing, 2), h.after(closing, 5)
    if reopened is not None:
        h.add("ro", "case_reopened", h.at(reopened, 9, 12), case=case.id)
    if again is not None:
        h.add("fb", "case_feedback", h.at(again, 9, 12), case=case.id, unit=case.handler)
        h.add("cl", "case_closed", h.at(again, 14, 17), case=case.id, satisfaction="basically_satisfied")
    return None


def _weekend_case(h: History, enterprise: str) -> None:
    """A case sent in online on a Sunday evening: its clock starts on the Monday."""
    first = h.days[len(h.days) // 3]
    day = next(
        (
            d
            for d in (first + timedelta(days=n) for n in range(28))
            if d.weekday() == 6 and not h.is_working(d) and h.is_working(d + timedelta(days=1))
        ),
        None,
    )
    if day is None or day >= h.end:
        return
    received = datetime.combine(day, time(20, 15), tzinfo=SHANGHAI)
    case = _Case(f"C{day:%Y%m}W01", received, enterprise, "证照", "simple", "platform", "u-spj")
    _open(h, case)
    if (monday := h.after(day, 1)) is not None:
        _answer_and_close(h, case, monday)


def _repeat_report(h: History, closed: list[tuple[_Case, date]]) -> None:
    """An enterprise reports the same problem again within 90 days of its case being closed."""
    again = h.days[-8]
    earlier = [(case, day) for case, day in closed if timedelta(days=20) < again - day < timedelta(days=90)]
    if not earlier:
        return
    case, _ = earlier[-1]
    repeat = _Case(
        f"{case.id}R", h.at(again), case.enterprise, case.category, "complex", "window", case.handler
    )
    _open(h, repeat)
    if (answered := h.after(again, 3)) is not None:
        h.add("fb", "case_feedback", h.at(answered), case=repeat.id, unit=repeat.handler)


# cases of the last days still without feedback: (working days before the last working day,
# complexity, channel); at the end they are overdue at levels 1 and 2, or due soon
OPEN_AT_THE_END = [
    (1, "simple", "window"),
    (3, "simple", "visit"),
    (6, "complex", "platform"),
    (5, "complex", "window"),
    (3, "simple", "hotline"),
    (3, "major", "forum"),
]


def _open_cases_at_the_end(h: History, enterprises: list[str], majors: list[tuple[str, date]]) -> None:
    for k, (back, complexity, channel) in enumerate(OPEN_AT_THE_END):
        day = h.days[-1 - back]
        case = _Case(
            id=f"C{day:%Y%m}E{k + 1:02d}",
            received=h.at(day),
            enterprise=enterprises[-1 - k * 3],
            category=h.rng.choice(CATEGORIES),
            complexity=complexity,
            channel=channel,
            handler=CASE_UNITS[k],
            due_days=3 if channel == "hotline" else None,
        )
        _open(h, case)
        if complexity == "major":
            majors.append((case.id, day))


def reviews(h: History) -> None:
    """Ninety reviews; the bad ones (1-2 stars) rectified within 15 working days, late, or never."""
    for n in range(90):
        day = h.days[n * (len(h.days) - 1) // 90]
        review = f"R{day:%Y%m%d}{n:03d}"
        rating = h.rng.choices([5, 4, 3, 2, 1], [0.6, 0.2, 0.08, 0.07, 0.05])[0]
        given = h.at(day)
        unit, channel = h.rng.choice(REVIEW_UNITS), h.rng.choice(["评价器", "二维码", "PC端", "短信"])
        h.add("rv", "review", given, review=review, unit=unit, rating=rating, channel=channel)
        if rating > 2:
            continue
        roll = h.rng.random()
        if roll < 0.9:
            fixed = h.after(day, h.rng.randint(3, 12) if roll < 0.7 else h.rng.randint(16, 25))
            if fixed is not None:
                h.add("rr", "review_rectified", max(h.at(fixed), given + timedelta(hours=1)), review=review)


def project_progress(h: History, project: dict[str, Any]) -> None:
    """The first item done on time, the second late, the third on time; the rest not yet."""
    for n, item in enumerate(project["items"][:3]):
        due = date.fromisoformat(item["due"])
        done = h.after(due - timedelta(days=10), 0) if n != 1 else h.after(due, 4)
        if done is not None:
            h.add("pd", "project_item_done", h.at(done), project=project["id"], item=item["id"])
