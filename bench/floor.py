"""The set-based floor of a full evaluation: one SQL statement per obligation kind.

What would a full evaluation cost if the database did all of it? Each obligation kind is one statement
that derives every duty's due time (through a working-day table with ordinals), its status,
the warning or escalation level the rule calls for, and, for the pairings, inhibition; Python
only fetches the rows. `compare` holds the floor to the project's evaluation key by key (status,
due time, state, level, inhibited, provisional), so the ratio evaluation / floor in bench/run.py
is between two computations of the same answer.

The working-day table (`floor_days`: monitor/calendar/ordinals.py's ordinals, one row per day: `n`, the
working days from the table's first day through this one; `w`, whether it is one; `pc`, provisional days so far, and the day's
due instants) and its inverse (`floor_workdays`: the n-th working day and its end) are built from
the same `WorkCalendar` the evaluation uses, as of the instant evaluated. With them:
add_workdays(d, N) is the working day numbered n(d) + N (N = 0: n(d) + 1 - w(d)),
count_workdays(a, b) is n(b) - n(a - 1). A timestamp's Shanghai day is its epoch day at +8 h
(the zone has had no DST since 1991).

Not covered: repeated reports (a window over earlier closed cases; the bench's history has none:
`compare` would report any the evaluation found), waivers (none in the bench) and strict-mode
calendar gaps (the bench runs provisional).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    text,
)

from monitor.calendar.ordinals import Ordinals
from monitor.calendar.working_days import WorkCalendar
from monitor.clock import due_passed_before, end_of_day, local_date, past_due, start_of_day
from monitor.config import Settings
from monitor.evaluation.evaluate import Evaluation, make_timing
from monitor.evaluation.obligations.periodic import periods_in_view, utc_bounds
from monitor.evaluation.obligations.units import duty_units
from monitor.roster import RosterIndex
from monitor.rulebook import Rule, Rulebook
from monitor.store.db import for_evaluation
from monitor.store.models import UTCDateTime

EPOCH = date(1970, 1, 1).toordinal()
META = MetaData()
DAYS = Table(
    "floor_days",
    META,
    Column("k", Integer, primary_key=True),  # epoch day
    Column("n", Integer, nullable=False),  # working days from the first day through this one
    Column("w", Integer, nullable=False),  # 1 on a working day
    Column("pc", Integer, nullable=False),  # provisional days from the first day through this one
    Column("py", Integer, nullable=False),  # 1 in a provisional year
    Column("sod", UTCDateTime, nullable=False),  # 00:00 of the day
    Column("eod", UTCDateTime, nullable=False),  # 23:59:59 of the day (a period's due time)
    Column("cut", UTCDateTime, nullable=False),  # the end-of-day cut-off of the day
    Column("bimonth_due", UTCDateTime, nullable=False),  # 23:59:59 of the next two-month block's end
)
WORKDAYS = Table(
    "floor_workdays",
    META,
    Column("n", Integer, primary_key=True),
    Column("k", Integer, nullable=False),
    Column("due_end", UTCDateTime, nullable=False),  # the cut-off of that working day
)
PERIODS = Table(
    "floor_periods",
    META,
    Column("rule", String(80), primary_key=True),
    Column("label", String(10), primary_key=True),
    Column("start_at", UTCDateTime, nullable=False),
    Column("end_at", UTCDateTime, nullable=False),
    Column("first_day", Date, nullable=False),
    Column("last_day", Date, nullable=False),
    Column("last_k", Integer, nullable=False),
)
UNITS = Table(
    "floor_units",
    META,
    Column("rule", String(80), primary_key=True),
    Column("unit_id", String(64), primary_key=True),
    Column("named", Boolean, nullable=False),
)


def day_k(day: date) -> int:
    return day.toordinal() - EPOCH


def build_days(conn: Connection, calendar: WorkCalendar, cutoff: Any, first: date, last: date) -> int:
    """(Re)build the working-day tables for [first, last] from the calendar (monitor/calendar/ordinals.py,
    held to the calendar day by day by tests/calendar/test_ordinals.py); returns the day count."""
    from monitor.periods import period_of

    META.create_all(conn, tables=[DAYS, WORKDAYS, PERIODS, UNITS])
    conn.execute(DAYS.delete())
    conn.execute(WORKDAYS.delete())
    days: list[dict[str, Any]] = []
    workdays: list[dict[str, Any]] = []
    pc = 0
    for row in Ordinals(calendar, first, last).days:
        pc += row.provisional
        days.append(
            {
                "k": day_k(row.day),
                "n": row.n,
                "w": int(row.workday),
                "pc": pc,
                "py": int(row.provisional),
                "sod": start_of_day(row.day),
                "eod": end_of_day(row.day),
                "cut": end_of_day(row.day, cutoff),
                "bimonth_due": end_of_day(period_of("bimonth", row.day).next().end),
            }
        )
        if row.workday:
            workdays.append({"n": row.n, "k": day_k(row.day), "due_end": end_of_day(row.day, cutoff)})
    for i in range(0, len(days), 5000):
        conn.execute(insert(DAYS), days[i : i + 5000])
    for i in range(0, len(workdays), 5000):
        conn.execute(insert(WORKDAYS), workdays[i : i + 5000])
    return len(days)


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in(values: Iterable[str]) -> str:
    return "(" + ", ".join(_q(v) for v in values) + ")"


@dataclass(frozen=True)
class Dialect:
    name: str

    def local_k(self, column: str) -> str:
        """The Shanghai epoch day of a stored instant."""
        if self.name == "postgresql":
            return f"CAST(floor((extract(epoch from {column}) + 28800) / 86400) AS integer)"
        return f"((CAST(strftime('%s', {column}) AS INTEGER) + 28800) / 86400)"

    def date_k(self, column: str) -> str:
        if self.name == "postgresql":
            return f"({column} - DATE '1970-01-01')"
        return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"

    def second(self, column: str) -> str:
        """The instant truncated to its second (the due second is owed whole: monitor/clock.py)."""
        if self.name == "postgresql":
            return f"date_trunc('second', {column})"
        return f"substr({column}, 1, 19)"


def _decide(rules: Sequence[Rule], source: str) -> str:
    """Status, working days, state and level of every row of the CTE `source`
    (rule, subject, period, due_at, met_at, escalated_level, due_k), per the rules' YAML."""

    def per_rule(expr: dict[str, str], default: str = "NULL") -> str:
        if not expr:
            return default
        cases = " ".join(f"WHEN {_q(rule_id)} THEN {e}" for rule_id, e in expr.items())
        return f"CASE r.rule {cases} ELSE {default} END"

    expire = per_rule(
        {r.id: str(r.expire_working_days) for r in rules if r.expire_working_days is not None}, "1000000"
    )
    warn = per_rule(
        {
            r.id: ("1" if r.immediate else f"CASE WHEN x.to_due <= {r.warn_working_days} THEN 1 ELSE 0 END")
            for r in rules
            if r.immediate or r.warn_working_days > 0
        },
        "0",
    )
    levels = {}
    for r in rules:
        steps = sorted(r.escalation, key=lambda s: -s.level)
        whens = " ".join(
            f"WHEN x.overdue_days >= {s.after_working_days} OR x.escalated_level >= {s.level} THEN {s.level}"
            for s in steps
        )
        levels[r.id] = f"CASE {whens} ELSE NULL END" if steps else "NULL"
    level = per_rule(levels)
    return f"""
    x AS (
      SELECT r.rule, r.subject, r.period, r.due_at, r.met_at, r.escalated_level, dd.n - :n_before_today AS to_due,
        CASE WHEN :n_last - dd.n > 0 THEN :n_last - dd.n ELSE 0 END AS overdue_days,
        CASE WHEN r.met_at IS NOT NULL THEN dd.py
             WHEN abs(:pc_today - dd.pc) + dd.py + :py_today > 0 THEN 1 ELSE 0 END AS provisional
      FROM {source} r JOIN floor_days dd ON dd.k = r.due_k
    ),
    s AS (
      SELECT x.*, CASE
          WHEN x.met_at IS NOT NULL THEN
            CASE WHEN {{second_met}} <= {{second_due}} THEN 'met_on_time' ELSE 'met_late' END
          WHEN x.due_at < :now_floor THEN
            CASE WHEN x.overdue_days > {expire.replace("r.rule", "x.rule")} THEN 'missed' ELSE 'overdue' END
          ELSE 'pending' END AS status
      FROM x
    ),
    d AS (
      SELECT s.*, CASE
          WHEN s.status = 'pending' AND {warn.replace("r.rule", "s.rule").replace("x.", "s.")} = 1 THEN 'warning'
          WHEN s.status = 'overdue' AND {level.replace("r.rule", "s.rule").replace("x.", "s.")} IS NOT NULL
            THEN 'overdue' END AS state,
        CASE WHEN s.status = 'overdue' THEN {level.replace("r.rule", "s.rule").replace("x.", "s.")} ELSE 0 END AS level
      FROM s
    )"""


class Floor:
    """The floor's statements for one rulebook, back end and settings."""

    def __init__(self, rulebook: Rulebook, settings: Settings, dialect: str) -> None:
        self.rulebook = rulebook
        self.settings = settings
        self.dialect = Dialect(dialect)
        self.rules = list(rulebook)

    def _finish(self, rules: Sequence[Rule], source_sql: str, inhibit: bool = False) -> str:
        decide = _decide(rules, "src").replace("{second_met}", self.dialect.second("x.met_at"))
        decide = decide.replace("{second_due}", self.dialect.second("x.due_at"))
        select = "SELECT d.rule, d.subject, d.period, d.status, d.due_at, d.state, d.level, d.provisional"
        if not inhibit or not self.settings.inhibit:
            return f"WITH src AS ({source_sql}),{decide}\n{select}, 0 AS inhibited FROM d"
        # per inhibit rule, the most severe state of its source's alerts among the rows equal on
        # its fields: a window over them (a self-join of the CTE has no index on SQLite)
        severity = "CASE d.state WHEN 'overdue' THEN 1 WHEN 'warning' THEN 0 END"
        windows, tests = [], []
        for k, rule in enumerate(self.settings.inhibit):
            by = ", ".join(f"d.{f}" for f in rule.equal)
            windows.append(
                f"max(CASE WHEN d.rule = {_q(rule.source)} THEN {severity} END) OVER (PARTITION BY {by}) AS src{k}"
            )
            tests.append(f"(w.rule IN {_in(rule.targets)} AND w.src{k} >= w.sev)")
        return (
            f"WITH src AS ({source_sql}),{decide},\n"
            f"w AS (SELECT d.*, {severity} AS sev, {', '.join(windows)} FROM d)\n"
            f"{select.replace('d.', 'w.')}, "
            f"CASE WHEN w.state IS NOT NULL AND ({' OR '.join(tests)}) THEN 1 ELSE 0 END AS inhibited FROM w"
        )

    # --- the obligation kinds ---

    def pairings(self, rules: Sequence[Rule]) -> str:
        parts = []
        for rule in rules:
            fulfils = f"a.type IN {_in(rule.fulfilled_by.events)}"
            if rule.fulfilled_by.talked_with_head:
                fulfils += " AND a.talked_with_head"
            parts.append(
                f"""SELECT {_q(rule.id)} AS rule,
                  'pairing:' || CASE WHEN p.owner LIKE 'official:%' THEN substr(p.owner, 10)
                                     ELSE substr(p.owner, 6) END || ':' || p.enterprise_id AS subject,
                  pr.label AS period, dd.eod AS due_at, min(a.at) AS met_at, 0 AS escalated_level,
                  pr.last_k AS due_k
                FROM floor_periods pr JOIN floor_days dd ON dd.k = pr.last_k
                JOIN pairings p ON p.start <= pr.first_day AND (p."end" IS NULL OR p."end" >= pr.last_day)
                LEFT JOIN activities a ON a.enterprise_id = p.enterprise_id AND {fulfils}
                  AND a.at >= pr.start_at AND a.at < pr.end_at AND a.at <= :now
                  AND ((p.official_id IS NOT NULL AND a.official_id = p.official_id)
                       OR (p.official_id IS NULL AND a.unit_id = p.unit_id))
                WHERE pr.rule = {_q(rule.id)}
                GROUP BY p.owner, p.enterprise_id, pr.label, dd.eod, pr.last_k"""
            )
        return self._finish(rules, " UNION ALL ".join(parts), inhibit=True)

    def units(self, rules: Sequence[Rule]) -> str:
        parts = []
        for rule in rules:
            if rule.obligation == "unit_report":
                n = rule.due_working_days or 0
                met = (
                    f"a.type = 'report' AND a.report_kind = {_q(rule.fulfilled_by.report_kind or '')} "
                    "AND a.report_period = pr.label"
                )
                due = (
                    f"JOIN floor_days ld ON ld.k = pr.last_k JOIN floor_workdays wd ON wd.n = ld.n + {n}"
                    if n
                    else "JOIN floor_days ld ON ld.k = pr.last_k JOIN floor_workdays wd ON wd.n = ld.n + 1 - ld.w"
                )
                due_at, due_k = "wd.due_end", "wd.k"
            else:
                met = (
                    f"a.type IN {_in(rule.fulfilled_by.events)} AND a.at >= pr.start_at AND a.at < pr.end_at"
                )
                due = "JOIN floor_days ld ON ld.k = pr.last_k"
                due_at, due_k = "ld.eod", "ld.k"
            parts.append(
                f"""SELECT {_q(rule.id)} AS rule, 'unit:' || u.unit_id AS subject, pr.label AS period,
                  {due_at} AS due_at, min(a.at) AS met_at, 0 AS escalated_level, {due_k} AS due_k
                FROM floor_periods pr {due}
                JOIN floor_units u ON u.rule = pr.rule
                LEFT JOIN activities a ON a.unit_id = u.unit_id AND {met} AND a.at <= :now
                WHERE pr.rule = {_q(rule.id)}
                GROUP BY u.unit_id, pr.label, {due_at}, {due_k}"""
            )
        return self._finish(rules, " UNION ALL ".join(parts))

    def _case_scope(self, rule: Rule) -> str:
        scope = rule.applies_to
        out = []
        if scope.complexity:
            out.append(f"c.complexity IN {_in(scope.complexity)}")
        if scope.channels:
            out.append(f"c.channel IN {_in(scope.channels)}")
        if scope.exclude_channels:
            out.append(f"c.channel NOT IN {_in(scope.exclude_channels)}")
        return " AND ".join(out) or "1 = 1"

    def case_clocks(self, rules: Sequence[Rule], ladders: Sequence[Rule]) -> str:
        """Every clock rule and the ladders over them, from one aggregate of the case events."""
        met_types = sorted({t for r in rules for t in r.fulfilled_by.case_events})
        local, sec = self.dialect.local_k, self.dialect.second
        cases_settings = self.settings.cases
        parts = []
        for rule in rules:
            if rule.due_working_days is not None:
                n = rule.due_working_days
                # the same working day, or the next one: received on a rest day, or after the
                # day's cut-off second (monitor/evaluation/obligations/timing.py, `deadline`)
                late = f"CASE WHEN rd.w = 1 AND {sec('f.received_at')} > {sec('rd.cut')} THEN 1 ELSE 0 END"
                target = f"rd.n + {n}" if n else f"rd.n + 1 - rd.w + {late}"
                due_at, due_k, join = "wd.due_end", "wd.k", "JOIN"
                days = None
            else:
                by_cat = cases_settings.hotline_working_days_by_category
                days = (
                    "CASE f.category "
                    + " ".join(f"WHEN {_q(c)} THEN {d}" for c, d in by_cat.items())
                    + f" ELSE {cases_settings.hotline_default_working_days} END"
                    if by_cat
                    else str(cases_settings.hotline_default_working_days)
                )
                target = f"rd.n + {days}"
                due_at = "coalesce(f.own_due_at, wd.due_end)"
                due_k = f"CASE WHEN f.own_due_at IS NULL THEN wd.k ELSE {local('f.own_due_at')} END"
                join = "LEFT JOIN"
            parts.append(
                f"""SELECT {_q(rule.id)} AS rule, 'case:' || f.id AS subject, '' AS period,
                  {due_at} AS due_at, f.met_at, f.escalated_level, {due_k} AS due_k
                FROM f JOIN floor_days rd ON rd.k = {local("f.received_at")}
                {join} floor_workdays wd ON wd.n = {target}
                  {"AND f.own_due_at IS NULL" if days is not None else ""}
                WHERE {self._case_scope(rule).replace("c.", "f.")}"""
            )
        clocks = " UNION ALL ".join(parts)
        ladder_parts = [
            f"SELECT {_q(ladder.id)} AS rule, subject, period, due_at, met_at, escalated_level, due_k "
            f"FROM clocks WHERE rule IN {_in(ladder.ladder_of)}"
            for ladder in ladders
        ]
        source = f"""SELECT * FROM clocks {"UNION ALL " + " UNION ALL ".join(ladder_parts) if ladder_parts else ""}"""
        decide = _decide([*rules, *ladders], "src")
        decide = decide.replace("{second_met}", self.dialect.second("x.met_at"))
        decide = decide.replace("{second_due}", self.dialect.second("x.due_at"))
        return f"""WITH f AS (
            SELECT c.id, c.channel, c.complexity, c.category, c.received_at, c.own_due_at,
              min(e.at) FILTER (WHERE e.type IN {_in(met_types)}) AS met_at,
              coalesce(max(e.level) FILTER (WHERE e.type = 'case_escalated'), 0) AS escalated_level
            FROM cases c LEFT JOIN case_events e ON e.case_id = c.id AND e.at <= :now
              AND e.type IN {_in([*met_types, "case_escalated"])}
            WHERE c.received_at <= :now
            GROUP BY c.id, c.channel, c.complexity, c.category, c.received_at, c.own_due_at
          ),
          clocks AS (
            SELECT * FROM ({clocks}) cl WHERE cl.met_at IS NULL OR cl.met_at > :met_since
          ),
          src AS ({source}),{decide}
          SELECT d.rule, d.subject, d.period, d.status, d.due_at, d.state, d.level, d.provisional,
            0 AS inhibited FROM d"""

    def meetings(self, rule: Rule) -> str:
        local = self.dialect.local_k
        grace = rule.meeting_grace_working_days
        meeting_units = "(SELECT unit_id FROM floor_units WHERE rule = :meeting_rule AND named)"
        return self._finish(
            [rule],
            f"""SELECT {_q(rule.id)} AS rule, 'case:' || g.id AS subject, '' AS period,
                coalesce(g.meeting, g.bimonth_due) AS due_at, g.met_at, 0 AS escalated_level,
                CASE WHEN g.meeting IS NULL THEN {local("g.bimonth_due")} ELSE {local("g.meeting")} END AS due_k
              FROM (
                SELECT f.id, f.met_at, rd.bimonth_due,
                  (SELECT min(m.at) FROM activities m WHERE m.type = 'coordination_meeting' AND m.at <= :now
                     AND m.at < rd.bimonth_due AND m.at >= ed.sod
                     AND (NOT EXISTS {meeting_units} OR m.unit_id IN {meeting_units})) AS meeting
                FROM (
                  SELECT c.id, c.received_at,
                    coalesce(min(e.at) FILTER (WHERE e.type = 'agenda'),
                             min(e.at) FILTER (WHERE e.type = 'case_escalated' AND e.level >= 2)) AS met_at
                  FROM cases c LEFT JOIN case_events e ON e.case_id = c.id AND e.at <= :now
                    AND e.type IN ('agenda', 'case_escalated')
                  WHERE c.received_at <= :now AND {self._case_scope(rule)}
                  GROUP BY c.id, c.received_at
                ) f
                JOIN floor_days rd ON rd.k = {local("f.received_at")}
                JOIN floor_workdays wd ON wd.n = {f"rd.n + {grace}" if grace else "rd.n + 1 - rd.w"}
                JOIN floor_days ed ON ed.k = wd.k
                WHERE f.met_at IS NULL OR f.met_at > :met_since
              ) g""",
        )

    def reviews(self, rule: Rule) -> str:
        assert rule.due_working_days is not None and rule.applies_to.max_rating is not None
        n = rule.due_working_days
        local = self.dialect.local_k
        return self._finish(
            [rule],
            f"""SELECT {_q(rule.id)} AS rule, 'review:' || v.id AS subject, '' AS period,
                wd.due_end AS due_at, CASE WHEN v.rectified_at <= :now THEN v.rectified_at END AS met_at,
                0 AS escalated_level, wd.k AS due_k
              FROM reviews v JOIN floor_days rd ON rd.k = {local("v.at")}
              JOIN floor_workdays wd ON wd.n = {f"rd.n + {n}" if n else "rd.n + 1 - rd.w"}
              WHERE v.rating <= {int(rule.applies_to.max_rating)} AND v.at <= :now
                AND (v.rectified_at IS NULL OR v.rectified_at > :met_since)""",
        )

    def projects(self, rule: Rule) -> str:
        return self._finish(
            [rule],
            f"""SELECT {_q(rule.id)} AS rule, 'project:' || i.project_id || ':' || i.id AS subject,
                '' AS period, dd.cut AS due_at, CASE WHEN i.done_at <= :now THEN i.done_at END AS met_at,
                0 AS escalated_level, dd.k AS due_k
              FROM project_items i JOIN projects p ON p.id = i.project_id
              JOIN floor_days dd ON dd.k = {self.dialect.date_k("i.due")}
              WHERE i.done_at IS NULL OR i.done_at > :recent""",
        )

    def statements(self) -> list[tuple[str, str]]:
        by_kind: dict[str, list[Rule]] = {}
        for rule in self.rules:
            by_kind.setdefault(rule.obligation, []).append(rule)
        out: list[tuple[str, str]] = []
        if "pairing_activity" in by_kind:
            out.append(("pairing_activity", self.pairings(by_kind["pairing_activity"])))
        units = by_kind.get("unit_activity", []) + by_kind.get("unit_report", [])
        if units:
            out.append(("unit", self.units(units)))
        if "case_clock" in by_kind:
            out.append(
                ("case_clock", self.case_clocks(by_kind["case_clock"], by_kind.get("case_ladder", [])))
            )
        for rule in by_kind.get("case_meeting", []):
            out.append(("case_meeting", self.meetings(rule)))
        for rule in by_kind.get("review_rectification", []):
            out.append(("review_rectification", self.reviews(rule)))
        for rule in by_kind.get("project_item", []):
            out.append(("project_item", self.projects(rule)))
        return out


DATETIME_PARAMS = ("now", "now_floor", "met_since", "recent")
FloorRow = tuple[str, str, str, str, datetime, str | None, int | None, bool, bool]


def run(
    conn: Connection,
    floor: Floor,
    calendar: WorkCalendar,
    roster: RosterIndex,
    now: datetime,
) -> list[FloorRow]:
    """Every duty in view at `now` with its status, due time, state, level, inhibited, provisional."""
    from monitor.evaluation.obligations.cases import RECENT

    settings = floor.settings
    timing = make_timing(calendar, settings, floor.rulebook)
    for_evaluation(conn)  # the evaluation's own settings (JIT off, work_mem)
    conn.execute(PERIODS.delete())
    conn.execute(UNITS.delete())
    periods: list[dict[str, Any]] = []
    units: list[dict[str, Any]] = []
    for rule in floor.rules:
        if rule.period is not None:
            for period, _due, _gap in periods_in_view(rule, now, timing):
                start, end = utc_bounds(period)
                periods.append(
                    {
                        "rule": rule.id, "label": period.label, "start_at": start, "end_at": end,
                        "first_day": period.start, "last_day": period.end, "last_k": day_k(period.end),
                    }
                )  # fmt: skip
        if rule.obligation in ("unit_activity", "unit_report"):
            units += [{"rule": rule.id, "unit_id": u, "named": False} for u in duty_units(rule, roster)]
        if rule.obligation == "case_meeting":
            units += [
                {"rule": rule.id, "unit_id": u, "named": True}
                for u in roster.units_named(rule.applies_to.unit_names)
            ]
    if periods:
        conn.execute(insert(PERIODS), periods)
    if units:
        conn.execute(insert(UNITS), units)
    today = local_date(now)
    last = (
        today if past_due(now, end_of_day(today, settings.calendar.end_of_day)) else today - timedelta(days=1)
    )
    row = conn.execute(text("SELECT n, pc, py FROM floor_days WHERE k = :k"), {"k": day_k(today)}).one()
    params = {
        "now": now,
        "now_floor": due_passed_before(now),
        "met_since": now - RECENT,
        "recent": now - RECENT,
        "n_before_today": conn.execute(
            text("SELECT n FROM floor_days WHERE k = :k"), {"k": day_k(today) - 1}
        ).scalar_one(),
        "n_last": conn.execute(
            text("SELECT n FROM floor_days WHERE k = :k"), {"k": day_k(last)}
        ).scalar_one(),
        "pc_today": row.pc,
        "py_today": row.py,
        "meeting_rule": next((r.id for r in floor.rules if r.obligation == "case_meeting"), ""),
    }
    out: list[FloorRow] = []
    for _kind, sql in floor.statements():
        typed = [bindparam(k, type_=UTCDateTime) for k in DATETIME_PARAMS if f":{k}" in sql]
        statement = (
            text(sql)
            .bindparams(*typed)
            .columns(
                Column("rule", String),
                Column("subject", String),
                Column("period", String),
                Column("status", String),
                Column("due_at", UTCDateTime),
                Column("state", String),
                Column("level", Integer),
                Column("provisional", Integer),
                Column("inhibited", Integer),
            )
        )
        out += [
            tuple(r) for r in conn.execute(statement, {k: v for k, v in params.items() if f":{k}" in sql})
        ]  # type: ignore[misc]
    return out


def compare(
    evaluation: Evaluation, rows: Iterable[FloorRow], skip: frozenset[str] = frozenset()
) -> list[str]:
    """Where the floor and the evaluation disagree, key by key (an empty list: nowhere); the
    rules in `skip` (obligation kinds the floor does not cover) are left out."""
    alerts = {a.key: (a.state, a.level, False, a.provisional) for a in evaluation.alerts}
    alerts.update({a.key: (a.state, a.level, True, a.provisional) for a in evaluation.inhibited})
    ours: dict[tuple[str, str, str], tuple[Any, ...]] = {}
    for o in evaluation.obligations:
        alert = alerts.get(o.key, (None, None, False, None))
        ours[o.key] = (o.status, o.due_at, *alert[:3], o.provisional)
    theirs: dict[tuple[str, str, str], tuple[Any, ...]] = {}
    for rule, subject, period, status, due_at, state, level, provisional, inhibited in rows:
        theirs[(rule, subject, period or "")] = (
            status, due_at, state, level if state else None, bool(inhibited) if state else False, bool(provisional),
        )  # fmt: skip
    problems = []
    for key in sorted(ours.keys() | theirs.keys()):
        if key[0] in skip:
            continue
        mine, floor = ours.get(key), theirs.get(key)
        if mine != floor:
            problems.append(f"{key}: evaluation {mine}, floor {floor}")
    return problems


__all__ = ["Floor", "build_days", "compare", "run"]
