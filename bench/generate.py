"""Deterministic synthetic districts for benchmarks, at a size given by pairings and cases.

Not the demo district (which is hand-shaped for people): here only volume and realistic rates
matter — about 90% of monthly visits made, half the pairings with a contact as well, cases with
feedback on time, late or never.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from monitor.calendar.working_days import WorkCalendar
from monitor.clock import SHANGHAI
from monitor.demo.district import DEPARTMENTS
from monitor.ingest.credit_code import check_character
from monitor.periods import periods_between


@dataclass(frozen=True)
class Size:
    name: str
    pairings: int
    units: int
    cases_per_year: int
    unanswered: float = 0.05  # cases that never get feedback: open at the year's end


SIZES = {
    "S": Size("S", 600, 30, 5_000),
    "M": Size("M", 10_000, 300, 200_000),
    # a province: 200k cases never answered, plus those in flight, are open at the year's end
    "L": Size("L", 200_000, 3_000, 2_000_000, unanswered=0.1),
}


def credit_code(n: int) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "91321311"
    for _ in range(9):
        body += alphabet[n % 31]
        n //= 31
    return body + check_character(body)


def roster(size: Size, start: date) -> dict[str, Any]:
    units = [
        {"id": uid, "name": name, "kind": "department", "head": f"{uid}-h", "indicator_lead": lead}
        for uid, name, lead in DEPARTMENTS
    ]
    units += [
        {"id": f"u{i}", "name": f"单位{i:04d}", "kind": "town", "head": f"u{i}-h"}
        for i in range(size.units - len(units))
    ]
    officials = [{"id": "ldr", "name": "区领导", "unit": "u-ysb", "role": "district_leader"}]
    for unit in units:
        officials.append({"id": f"{unit['id']}-h", "name": "负责人", "unit": unit["id"], "role": "unit_head"})
        officials += [
            {"id": f"{unit['id']}-s{k}", "name": "干部", "unit": unit["id"], "role": "staff"}
            for k in range(3)
        ]
    staff = [o["id"] for o in officials if o["role"] == "staff"]
    enterprises = [{"id": credit_code(n), "name": f"企业{n:06d}"} for n in range(size.pairings)]
    pairings = [
        {"official": staff[n % len(staff)], "enterprise": e["id"], "from": start.isoformat()}
        for n, e in enumerate(enterprises)
    ]
    return {"units": units, "officials": officials, "enterprises": enterprises, "pairings": pairings}


def events(size: Size, data: dict[str, Any], first: date, end: date, seed: int = 1) -> list[dict[str, Any]]:
    """The history in time order."""
    return sorted(iter_events(size, data, first, end, seed), key=lambda e: e["at"])


def iter_events(
    size: Size, data: dict[str, Any], first: date, end: date, seed: int = 1
) -> Iterator[dict[str, Any]]:
    """The same history, generated one event at a time (a province's does not fit in memory)."""
    rng = random.Random(seed)
    cal = WorkCalendar()
    workdays = [first + timedelta(days=d) for d in range((end - first).days + 1)]
    workdays = [d for d in workdays if cal.is_workday(d)]

    def at(day: date) -> str:
        minute = rng.randrange(9 * 60, 17 * 60)
        return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=SHANGHAI).isoformat()

    months = periods_between("month", first, end)
    for n, pairing in enumerate(data["pairings"]):
        for month in months:
            days = [d for d in workdays if month.contains(d)]
            if not days or rng.random() > 0.9:
                continue
            yield (
                {
                    "id": f"v{n}-{month.label}",
                    "type": "visit",
                    "at": at(rng.choice(days)),
                    "official": pairing["official"],
                    "enterprise": pairing["enterprise"],
                    "talked_with_head": True,
                }
            )
            if n % 2:
                yield (
                    {
                        "id": f"k{n}-{month.label}",
                        "type": "contact",
                        "at": at(rng.choice(days)),
                        "official": pairing["official"],
                        "enterprise": pairing["enterprise"],
                        "channel": "phone",
                    }
                )
    units = [u["id"] for u in data["units"]]
    enterprises = [e["id"] for e in data["enterprises"]]
    span = (end - first).days / 365
    for n in range(int(size.cases_per_year * span)):
        day = workdays[n * len(workdays) // int(size.cases_per_year * span)]
        case = f"c{n}"
        received = at(day)
        yield (
            {
                "id": f"{case}-o",
                "type": "case_opened",
                "at": received,
                "case": case,
                "enterprise": enterprises[n % len(enterprises)],
                "channel": rng.choice(["window", "platform", "hotline"]),
                "complexity": rng.choices(["simple", "complex", "major"], [0.6, 0.35, 0.05])[0],
                "category": rng.choice(["用地", "用工", "融资"]),
                "unit": units[n % len(units)],
            }
        )
        roll = rng.random()
        if roll < 1 - size.unanswered:
            later = (
                cal.add_workdays(day, rng.choice([0, 1, 2, 3, 4, 5, 7]))
                if day < end - timedelta(days=20)
                else day
            )
            fb = max(at(later), received)
            yield {"id": f"{case}-f", "type": "case_feedback", "at": fb, "case": case}
