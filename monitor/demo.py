"""A demo district: a realistic Suyu roster and a year of events, generated deterministically.

`generate_district(end, seed=…, calendar=…)` returns (roster, events) in the DESIGN.md shapes;
the same seed and end date always give the same output. Most duties are met on time, some
late, some missed, and the last weeks before `end` leave duties due soon and overdue, so that
evaluating at `end` shows warnings, overdue alerts and escalations at several levels. Used by
`dutywatch demo` (for `make run`) and to write `config/examples/`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from monitor.calendar import CalendarNotCovered, WorkCalendar
from monitor.clock import SHANGHAI
from monitor.ingest.credit_code import check_character
from monitor.periods import Period, periods_between

DEPARTMENTS = [
    ("u-gxj", "区工信局", True),
    ("u-ysb", "区营商办", False),
    ("u-spj", "区行政审批局", True),
    ("u-zhzx", "区综合指挥调度中心", False),
    ("u-zfb", "区作风办", False),
    ("u-zs", "区招商服务中心", False),
    ("u-fgj", "区发改局", True),
    ("u-scjg", "区市场监管局", True),
]
LOCALITIES = [
    ("u-shh", "顺河街道", "street"),
    ("u-yx", "豫新街道", "street"),
    ("u-jt", "井头乡", "town"),
    ("u-kfq", "宿豫经济开发区", "park"),
]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "霞",
    "平",
    "刚",
    "桂英",
]
FIRMS = [
    "恒达机械",
    "华泰纺织",
    "绿源食品",
    "金鼎新材料",
    "宏远电子",
    "润丰农业",
    "新纪元光伏",
    "瑞康医疗器械",
    "天工智能装备",
    "中顺物流",
    "嘉禾木业",
    "鑫源化工",
    "博远汽车零部件",
    "银河包装",
    "东方精密",
    "苏宿建材",
    "盛世家纺",
    "永泰铝业",
    "海创科技",
    "安达管业",
    "佳禾粮油",
    "宏达玻璃",
    "立信塑业",
    "汇丰印务",
    "通宇电缆",
    "华科光电",
    "江淮酿造",
    "运河文旅",
    "洪泽湖水产",
    "骆马湖生态",
]
CATEGORIES = ["用地", "用工", "融资", "证照", "环保", "水电气", "物流", "政策兑现"]


@dataclass
class _Builder:
    rng: random.Random
    calendar: WorkCalendar
    end: date
    events: list[dict[str, Any]] = field(default_factory=list)
    counter: int = 0

    def workdays(self, first: date, last: date) -> list[date]:
        out: list[date] = []
        day = first
        while day <= min(last, self.end):
            try:
                if self.calendar.is_workday(day):
                    out.append(day)
            except CalendarNotCovered:
                pass
            day += timedelta(days=1)
        return out

    def at(self, day: date, start_hour: int = 9, end_hour: int = 17) -> datetime:
        minute = self.rng.randrange(start_hour * 60, end_hour * 60)
        return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=SHANGHAI)

    def add(self, prefix: str, event_type: str, when: datetime, **fields: Any) -> str:
        self.counter += 1
        event_id = f"{prefix}-{when:%Y%m%d}-{self.counter:05d}"
        self.events.append({"id": event_id, "type": event_type, "at": when.isoformat(), **fields})
        return event_id

    def add_workdays(self, day: date, n: int) -> date | None:
        try:
            return self.calendar.add_workdays(day, n)
        except CalendarNotCovered:
            return None


def _credit_code(rng: random.Random, index: int) -> str:
    body = f"91321311MA{index:02d}" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(5))
    return body + check_character(body)


def _name(rng: random.Random, used: set[str]) -> str:
    while True:
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        if name not in used:
            used.add(name)
            return name


def _roster(rng: random.Random, end: date) -> dict[str, Any]:
    used: set[str] = set()
    leaders = [
        {
            "id": f"o-ldr{i}",
            "name": _name(rng, used) + "（区领导）",
            "unit": "u-ysb",
            "role": "district_leader",
        }
        for i in (1, 2, 3)
    ]
    units: list[dict[str, Any]] = []
    officials: list[dict[str, Any]] = list(leaders)
    for i, (uid, name, lead) in enumerate(DEPARTMENTS):
        units.append(
            {
                "id": uid,
                "name": name,
                "kind": "department",
                "head": f"o-{uid[2:]}-head",
                "leader": leaders[i % 3]["id"],
                "indicator_lead": lead,
            }
        )
    for i, (uid, name, kind) in enumerate(LOCALITIES):
        units.append(
            {
                "id": uid,
                "name": name,
                "kind": kind,
                "head": f"o-{uid[2:]}-head",
                "leader": leaders[i % 3]["id"],
            }
        )
    for unit in units:
        short = unit["id"][2:]
        officials.append(
            {"id": f"o-{short}-head", "name": _name(rng, used), "unit": unit["id"], "role": "unit_head"}
        )
        for n in (1, 2):
            officials.append(
                {"id": f"o-{short}-{n}", "name": _name(rng, used), "unit": unit["id"], "role": "staff"}
            )
    officials.append({"id": "o-pm1", "name": _name(rng, used), "unit": "u-zs", "role": "project_manager"})
    for k, official in enumerate(officials):
        official["email"] = f"{official['id'][2:]}@suyu.example.cn"
        official["phone"] = f"139{51200000 + k * 7919 % 10_000_000:08d}"
    towns = [name for _, name, _ in LOCALITIES]
    enterprises = [
        {
            "id": _credit_code(rng, i),
            "name": f"宿迁{FIRMS[i]}有限公司",
            "town": towns[i % len(towns)],
            "above_scale": i % 5 != 4,
        }
        for i in range(len(FIRMS))
    ]
    staff = [o["id"] for o in officials if o["role"] == "staff"]
    year_ago = date(end.year - 1, end.month, 1)
    pairings: list[dict[str, Any]] = []
    for i, enterprise in enumerate(enterprises):
        if i < 3:
            owner: dict[str, Any] = {"official": leaders[i]["id"]}
        elif i in (10, 20):
            owner = {"unit": LOCALITIES[i // 10 - 1][0]}
        else:
            owner = {"official": staff[i % len(staff)]}
        start = year_ago - timedelta(days=365)
        pairing = {**owner, "enterprise": enterprise["id"], "from": start.isoformat()}
        if i == 7:  # paired in the middle of the year: owes only the periods it covers in full
            pairing["from"] = (year_ago + timedelta(days=150)).isoformat()
        if i == 8:  # pairing ended early (enterprise moved out)
            pairing["to"] = (year_ago + timedelta(days=200)).isoformat()
        pairings.append(pairing)
    due = [end - timedelta(days=d) for d in (200, 120, 40, 9)] + [end + timedelta(days=3)]
    items = ["立项备案", "用地预审", "规划许可", "施工图审查", "施工许可"]
    project = {
        "id": "p-hd1",
        "name": "恒达智能装备产业园项目",
        "leader": "o-ldr1",
        "unit": "u-zs",
        "manager": "o-pm1",
        "items": [{"id": f"i{n + 1}", "name": items[n], "due": due[n].isoformat()} for n in range(5)],
    }
    return {
        "units": units,
        "officials": officials,
        "enterprises": enterprises,
        "pairings": pairings,
        "projects": [project],
    }


def generate_district(
    end: date, *, seed: int = 1, calendar: WorkCalendar | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A roster and a year of events ending on `end` (inclusive), deterministic for (end, seed)."""
    rng = random.Random(f"{seed}:{end.isoformat()}")
    cal = calendar or WorkCalendar()
    roster = _roster(rng, end)
    b = _Builder(rng, cal, end)
    first = date(end.year - 1, end.month, 1)
    _pairing_duties(b, roster, first)
    _unit_duties(b, first)
    _cases(b, roster, first)
    _reviews(b, first)
    _project(b, roster)
    b.events.sort(key=lambda e: (e["at"], e["id"]))
    return roster, b.events


def _pairing_duties(b: _Builder, roster: dict[str, Any], first: date) -> None:
    members = {
        u["id"]: [o["id"] for o in roster["officials"] if o.get("unit") == u["id"]] for u in roster["units"]
    }
    for i, pairing in enumerate(roster["pairings"]):
        enterprise = pairing["enterprise"]
        who = pairing.get("official") or b.rng.choice(members[pairing["unit"]][1:])
        for month in periods_between("month", first, b.end):
            days = b.workdays(month.start, month.end)
            if not days:
                continue
            current = month.contains(b.end)
            roll = b.rng.random()
            if current and i % 3 == 0:
                continue  # not yet visited this month: a warning near the month's end
            if roll < 0.08 and not current:
                continue  # missed month
            day = b.rng.choice(days)
            b.add("v", "visit", b.at(day), official=who, enterprise=enterprise, talked_with_head=roll > 0.12)
            if b.rng.random() < 0.5:
                b.add(
                    "k",
                    "contact",
                    b.at(b.rng.choice(days)),
                    official=who,
                    enterprise=enterprise,
                    channel=b.rng.choice(["phone", "wechat", "platform"]),
                )
        for half in periods_between("half", first, b.end):
            days = b.workdays(half.start, half.end)
            if days and b.rng.random() < 0.85:
                b.add(
                    "b", "policy_briefing", b.at(b.rng.choice(days)), official=who, enterprises=[enterprise]
                )
        for year in periods_between("year", first, b.end):
            days = b.workdays(year.start, year.end)
            if days and b.rng.random() < 0.7:
                b.add(
                    "mm",
                    "matchmaking",
                    b.at(b.rng.choice(days)),
                    official=who,
                    enterprise=enterprise,
                    partner=f"宿迁{b.rng.choice(FIRMS)}有限公司",
                )


def _in(period: Period, b: _Builder, lo: int, hi: int) -> date | None:
    """A working day between the lo-th and hi-th working day of the period (1-based), if any."""
    days = b.workdays(period.start, period.end)
    if len(days) < lo:
        return None
    return b.rng.choice(days[lo - 1 : hi])


def _unit_duties(b: _Builder, first: date) -> None:
    for half in periods_between("half", first, b.end):
        day = _in(half, b, 60, 110)
        if day and not half.contains(b.end):
            b.add("f", "forum", b.at(day, 14, 16), unit="u-gxj")
    for year in periods_between("year", first, b.end):
        for unit, _, lead in DEPARTMENTS:
            day = _in(year, b, 100, 200)
            if lead and unit != "u-fgj" and day:
                b.add("s", "salon", b.at(day, 14, 16), unit=unit)
    for block in periods_between("bimonth", first, b.end):
        day = _in(block, b, 25, 38)
        if day and b.rng.random() < 0.9 and not block.contains(b.end):
            b.add("cm", "coordination_meeting", b.at(day, 9, 11), unit="u-gxj")
    for month in periods_between("month", first, b.end):
        for unit, kind in (("u-spj", "bad_reviews"), ("u-ysb", "bad_reviews"), ("u-zhzx", "hotline")):
            nth = b.rng.choice([3, 5, 6, 8, 9, 10, 10, 12])
            day = b.add_workdays(month.end, nth)
            last_full_month = month.next().contains(b.end)
            if day is None or day > b.end or b.rng.random() < 0.04 or (last_full_month and unit == "u-ysb"):
                continue
            b.add("rp", "report", b.at(day), unit=unit, kind=kind, period=month.label)


def _cases(b: _Builder, roster: dict[str, Any], first: date) -> None:
    enterprises = [e["id"] for e in roster["enterprises"]]
    days = b.workdays(first, b.end)
    units = ["u-spj", "u-scjg", "u-fgj", "u-shh", "u-kfq", "u-zs"]
    opened: list[tuple[str, date, str, str]] = []
    for n in range(70):
        day = days[int(len(days) * n / 70)] if n < 66 else days[-1 - (n - 66) * 2]
        received = b.at(day)
        case = f"C{received:%Y%m}{n:03d}"
        complexity = b.rng.choices(["simple", "complex", "major"], [0.55, 0.35, 0.1])[0]
        channel = b.rng.choice(["window", "platform", "visit", "forum", "supervisor", "hotline", "hotline"])
        enterprise = enterprises[n % len(enterprises)]
        category = b.rng.choice(CATEGORIES)
        unit = b.rng.choice(units)
        fields: dict[str, Any] = {}
        due_day = b.add_workdays(day, 5)
        if channel == "hotline" and due_day is not None:
            fields["due"] = datetime.combine(due_day, time(18, 0), tzinfo=SHANGHAI).isoformat()
        b.add(
            "co",
            "case_opened",
            received,
            case=case,
            enterprise=enterprise,
            channel=channel,
            complexity=complexity,
            category=category,
            unit=unit,
            summary=f"{category}问题",
            **fields,
        )
        opened.append((case, day, enterprise, category))
        limit = 0 if complexity == "simple" and channel != "hotline" else 5
        roll = b.rng.random()
        if n >= 66 or roll < 0.06:
            continue  # still waiting for feedback
        lateness = b.rng.choice([1, 2, 3, 6]) if roll < 0.18 else 0
        fb_day = b.add_workdays(day, limit + lateness) if limit + lateness else day
        if fb_day is None or fb_day > b.end:
            continue
        fb_at = max(b.at(fb_day), received + timedelta(minutes=30))
        b.add("fb", "case_feedback", fb_at, case=case, unit=unit)
        if complexity == "major" and b.rng.random() < 0.5:
            b.add("es", "case_escalated", fb_at + timedelta(minutes=5), case=case, level=2)
        close_day = b.add_workdays(fb_day, b.rng.randint(0, 3))
        if close_day is None or close_day > b.end:
            continue
        satisfaction = b.rng.choices(["satisfied", "basically_satisfied", "unsatisfied"], [0.75, 0.18, 0.07])[
            0
        ]
        close_at = max(b.at(close_day), fb_at + timedelta(minutes=10))
        b.add("cl", "case_closed", close_at, case=case, satisfaction=satisfaction)
        reopen_day = b.add_workdays(close_day, 2)
        if satisfaction == "unsatisfied" and reopen_day is not None and reopen_day <= b.end:
            b.add("ro", "case_reopened", b.at(reopen_day), case=case)
    # one enterprise reports the same problem again within 90 days of a close
    case, day, enterprise, category = opened[40]
    again = b.add_workdays(day, 20)
    if again is not None and again <= b.end:
        b.add(
            "co",
            "case_opened",
            b.at(again),
            case=f"{case}R",
            enterprise=enterprise,
            channel="window",
            complexity="simple",
            category=category,
            unit="u-spj",
            summary=f"{category}问题再次反映",
        )


def _reviews(b: _Builder, first: date) -> None:
    days = b.workdays(first, b.end)
    for n in range(90):
        day = days[int(len(days) * n / 90)]
        review = f"R{day:%Y%m%d}{n:03d}"
        rating = b.rng.choices([5, 4, 3, 2, 1], [0.6, 0.2, 0.08, 0.07, 0.05])[0]
        unit = b.rng.choice(["u-spj", "u-scjg", "u-shh", "u-yx", "u-jt"])
        given = b.at(day)
        b.add(
            "rv",
            "review",
            given,
            review=review,
            unit=unit,
            rating=rating,
            channel=b.rng.choice(["评价器", "二维码", "PC端", "短信"]),
        )
        if rating <= 2:
            roll = b.rng.random()
            fix_day = b.add_workdays(day, b.rng.randint(3, 12) if roll < 0.7 else b.rng.randint(16, 25))
            if roll < 0.9 and fix_day is not None and fix_day <= b.end:
                b.add("rr", "review_rectified", max(b.at(fix_day), given + timedelta(hours=1)), review=review)


def _project(b: _Builder, roster: dict[str, Any]) -> None:
    project = roster["projects"][0]
    for n, item in enumerate(project["items"]):
        due = date.fromisoformat(item["due"])
        done = {0: b.add_workdays(due - timedelta(days=10), 0), 1: b.add_workdays(due, 4)}.get(n)
        if done is not None and done <= b.end:
            b.add("pd", "project_item_done", b.at(done), project=project["id"], item=item["id"])
