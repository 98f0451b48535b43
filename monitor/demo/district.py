"""A demo district: a realistic Suyu roster and a year of events, generated deterministically.

`generate_district(end, seed=…, calendar=…)` returns (roster, events) in the shapes of
docs/roster.md and docs/events.md; the same seed and end date always give the same output. The
history starts on the first day of the month a year before `end`'s month, when the pairings start
too. Most duties are met on time, some late, some missed, and the last weeks before `end` leave
duties due soon and overdue, so that evaluating at `end` shows warnings, overdue alerts and
escalations at several levels. Used by `dutywatch demo` (for `make run`) and to write
`config/examples/`.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from monitor.calendar.working_days import CalendarNotCovered, WorkCalendar
from monitor.demo.history import History, year_of_events
from monitor.ingest.credit_code import check_character

# (id, name, leads a business-environment indicator)
DEPARTMENTS = [
    ("u-gxj", "区工信局", True),
    ("u-ysb", "区营商办", False),
    ("u-spj", "区行政审批局", True),
    ("u-zhzx", "区综合指挥调度中心", False),
    ("u-zfb", "区作风办", False),
    ("u-zs", "区招商服务中心", False),
    ("u-fgj", "区发改局", True),
    ("u-mzj", "区民政局", False),
    ("u-gsl", "区工商联", False),
    ("u-scjg", "区市场监管局", True),
]
LOCALITIES = [
    ("u-shh", "顺河街道", "street"),
    ("u-yx", "豫新街道", "street"),
    ("u-xx", "下相街道", "street"),
    ("u-jt", "井头乡", "town"),
    ("u-kfq", "宿豫经济开发区", "park"),
]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "伟芳娜敏静强磊军洋勇艳杰娟涛明超霞平刚英华建国海燕文博志秀兰"
# fmt: off
FIRMS = [
    "恒达机械", "华泰纺织", "绿源食品", "金鼎新材料", "宏远电子", "润丰农业", "新纪元光伏", "瑞康医疗器械",
    "天工智能装备", "中顺物流", "嘉禾木业", "鑫源化工", "博远汽车零部件", "银河包装", "东方精密", "苏宿建材",
    "盛世家纺", "永泰铝业", "海创科技", "安达管业", "佳禾粮油", "宏达玻璃", "立信塑业", "汇丰印务", "通宇电缆",
    "华科光电", "江淮酿造", "运河文旅", "洪泽湖水产", "骆马湖生态",
]
# fmt: on
# the characters a unified social credit code may use (GB 32100-2015: no I, O, Z, S, V)
CODE_CHARACTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def history_start(end: date) -> date:
    """The first day of the history: the first of the month a year before `end`'s month."""
    return date(end.year - 1, end.month, 1)


def generate_district(
    end: date, *, seed: int = 1, calendar: WorkCalendar | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A roster and a year of events up to `end` (inclusive), in time order, deterministic for (end, seed).

    Without a calendar the official one is used (no operator overrides). Raises
    CalendarNotCovered when the calendar lacks a year of the history.
    """
    rng = random.Random(f"{seed}:{end.isoformat()}")
    calendar = calendar or WorkCalendar()
    missing = calendar.missing_years(range(history_start(end).year, end.year + 1))
    if missing:
        raise CalendarNotCovered(missing[0])
    roster = _roster(rng, calendar, history_start(end), end)
    history = History(rng, calendar, history_start(end), end)
    year_of_events(history, roster)
    return roster, history.in_time_order()


def _credit_code(rng: random.Random, index: int) -> str:
    """A valid 18-character code of a company (91) registered in 宿豫区 (321311)."""
    body = f"91321311MA{index:02d}" + "".join(rng.choice(CODE_CHARACTERS) for _ in range(5))
    return body + check_character(body)


def _person(rng: random.Random, used: set[str]) -> str:
    while True:
        given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
        name = rng.choice(SURNAMES) + given
        if name not in used:
            used.add(name)
            return name


def _units(leaders: list[str]) -> list[dict[str, Any]]:
    kinds = [(uid, name, "department", lead) for uid, name, lead in DEPARTMENTS]
    kinds += [(uid, name, kind, False) for uid, name, kind in LOCALITIES]
    units: list[dict[str, Any]] = []
    for i, (uid, name, kind, lead) in enumerate(kinds):
        unit: dict[str, Any] = {
            "id": uid,
            "name": name,
            "kind": kind,
            "head": f"o-{uid[2:]}-head",
            "leader": leaders[i % len(leaders)],
        }
        if kind == "department":
            unit["indicator_lead"] = lead
        units.append(unit)
    return units


def _officials(rng: random.Random, units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    used: set[str] = set()
    # district leaders sit with the business-environment office, which works for them
    officials = [
        {"id": f"o-ldr{n}", "name": _person(rng, used), "unit": "u-ysb", "role": "district_leader"}
        for n in (1, 2, 3)
    ]
    for unit in units:
        short = unit["id"][2:]
        officials.append(
            {"id": unit["head"], "name": _person(rng, used), "unit": unit["id"], "role": "unit_head"}
        )
        for n in (1, 2):
            officials.append(
                {"id": f"o-{short}-{n}", "name": _person(rng, used), "unit": unit["id"], "role": "staff"}
            )
    officials.append({"id": "o-pm1", "name": _person(rng, used), "unit": "u-zs", "role": "project_manager"})
    for k, official in enumerate(officials):
        official["email"] = f"{official['id'][2:]}@suyu.example.cn"
        official["phone"] = f"139{51200000 + k * 7919:08d}"
    return officials


def _pairings(
    officials: list[dict[str, Any]], enterprises: list[dict[str, Any]], start: date
) -> list[dict[str, Any]]:
    leaders = [o["id"] for o in officials if o["role"] == "district_leader"]
    staff = [o["id"] for o in officials if o["role"] == "staff"]
    pairings: list[dict[str, Any]] = []
    for i, enterprise in enumerate(enterprises):
        if i < len(leaders):
            owner: dict[str, Any] = {"official": leaders[i]}
        elif i in (10, 20):  # a street paired as a whole with an enterprise in it
            owner = {"unit": LOCALITIES[i // 10 - 1][0]}
        else:
            owner = {"official": staff[i % len(staff)]}
        pairing = {**owner, "enterprise": enterprise["id"], "from": start.isoformat()}
        if i == 7:  # paired in the middle of the year: owes only the periods it covers in full
            pairing["from"] = (start + timedelta(days=165)).isoformat()
        if i == 8:  # the pairing ended early (the enterprise moved out of the district)
            pairing["to"] = (start + timedelta(days=200)).isoformat()
        pairings.append(pairing)
    return pairings


def _workday_on_or_after(calendar: WorkCalendar, day: date) -> date:
    try:
        return calendar.next_workday(day, include=True)
    except CalendarNotCovered:
        return day


def _project(calendar: WorkCalendar, end: date) -> dict[str, Any]:
    # due in days before the end (negative: after it), moved to a working day;
    # demo_events.project_progress says which items are done, late or not at all
    items = [
        ("立项备案", 300),
        ("用地预审", 200),
        ("环评批复", 150),
        ("规划许可", 60),
        ("施工图审查", 5),
        ("施工许可", -3),
    ]
    return {
        "id": "p-hd1",
        "name": f"{FIRMS[0]}智能装备产业园项目",
        "leader": "o-ldr1",
        "unit": "u-zs",
        "manager": "o-pm1",
        "items": [
            {
                "id": f"i{n + 1}",
                "name": name,
                "due": _workday_on_or_after(calendar, end - timedelta(days=days)).isoformat(),
            }
            for n, (name, days) in enumerate(items)
        ],
    }


def _roster(rng: random.Random, calendar: WorkCalendar, start: date, end: date) -> dict[str, Any]:
    units = _units(["o-ldr1", "o-ldr2", "o-ldr3"])
    officials = _officials(rng, units)
    towns = [name for _, name, _ in LOCALITIES]
    enterprises = [
        {
            "id": _credit_code(rng, i),
            "name": f"宿迁{firm}有限公司",
            "town": towns[i % len(towns)],
            "above_scale": i % 5 != 4,
        }
        for i, firm in enumerate(FIRMS)
    ]
    return {
        "units": units,
        "officials": officials,
        "enterprises": enterprises,
        "pairings": _pairings(officials, enterprises, start),
        "projects": [_project(calendar, end)],
    }
