"""The monthly report as CSV, a real XLSX workbook (openpyxl), or one self-contained HTML page."""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path
from typing import Any

from monitor.cellsafe import csv_row, text_cells_as_text
from monitor.clock import SHANGHAI
from monitor.reports.monthly import MonthlyReport, UnitFigures
from monitor.reports.ontime import DEFINITION_ZH, format_rate
from monitor.reports.trend import trend_svg

HEADERS = [
    "单位",
    "计入事项",
    "按时办结",
    "逾期办结",
    "逾期未办",
    "待办（未到期）",
    "已豁免",
    "受理诉求",
    "按时反馈",
    "升级",
    "重新打开",
    "差评",
    "已整改",
    "按时率",
]


def _row(f: UnitFigures) -> list[object]:
    return [
        f.name,
        f.due,
        f.on_time,
        f.late,
        f.missed,
        f.pending,
        f.waived,
        f.cases,
        f.cases_in_time,
        f.cases_escalated,
        f.cases_reopened,
        f.bad_reviews,
        f.rectified,
        f.rate,
    ]


CASES_NOTE = "受理诉求、按时反馈、升级、重新打开、差评、已整改为本月情况，单列说明，不另计入按时率（诉求反馈时限、差评整改已作为职责计入）。"


def as_of(report: MonthlyReport) -> str:
    """When the report was made, and whether its month had ended by then, in words."""
    when = "—" if report.as_of is None else report.as_of.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    state = "本月已结束" if report.complete else "本月尚未结束，数字为截至此刻的情况，待办事项不计为逾期"
    return f"截至 {when}（北京时间）；{state}"


def notes(report: MonthlyReport) -> list[str]:
    """The lines printed under the table: when, and how the rate is defined."""
    return [as_of(report), DEFINITION_ZH, CASES_NOTE]


def to_csv(report: MonthlyReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for f in report.units:
        row = _row(f)
        row[-1] = "" if f.rate is None else f"{f.rate:.3f}"
        writer.writerow(csv_row(row))
    writer.writerow([])
    for line in notes(report):
        writer.writerow(csv_row([line]))
    return out.getvalue()


def to_xlsx(report: MonthlyReport, path: Path) -> None:
    """A workbook of three sheets: the figures (汇总), the on-time rate's trend (趋势) and who
    the notices name (通报)."""
    from openpyxl import Workbook

    book = Workbook()
    summary = book.active
    assert summary is not None
    _summary_sheet(summary, report)
    _trend_sheet(book.create_sheet("趋势"), report)
    _notice_sheet(book.create_sheet("通报"), report)
    for sheet in book.worksheets:
        text_cells_as_text(sheet)
    book.save(path)


def _summary_sheet(sheet: Any, report: MonthlyReport) -> None:
    """A unit a row, as in the CSV, with the notes under them."""
    from openpyxl.styles import Font

    sheet.title = "汇总"
    sheet.append(HEADERS)
    for f in report.units:
        sheet.append(_row(f))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "B2"
    sheet.column_dimensions["A"].width = 22
    for column in "BCDEFGHIJKLMNO":
        sheet.column_dimensions[column].width = 10
    for row in sheet.iter_rows(min_row=2, min_col=len(HEADERS), max_col=len(HEADERS)):
        row[0].number_format = "0.0%"
    sheet.append([])
    for line in notes(report):
        sheet.append([line])


def _trend_sheet(sheet: Any, report: MonthlyReport) -> None:
    """Each unit's on-time rate month by month, and a chart of them when there is anything to draw."""
    months = list(next(iter(report.trend.values()), {}).keys())
    sheet.append(["单位", *months])
    for f in report.units:
        sheet.append([f.name, *(report.trend.get(f.unit_id, {}).get(m) for m in months)])
    sheet.freeze_panes = "B2"
    sheet.column_dimensions["A"].width = 22
    for row in sheet.iter_rows(min_row=2, min_col=2):
        for cell in row:
            cell.number_format = "0.0%"
    if report.units and months:
        _trend_chart(sheet, units=len(report.units), months=len(months))


def _trend_chart(sheet: Any, units: int, months: int) -> None:
    """A line a unit, drawn under the trend sheet's table."""
    from openpyxl.chart import LineChart, Reference
    from openpyxl.chart.label import DataLabelList

    chart = LineChart()
    chart.title = "按时率（近六个月）"
    chart.y_axis.number_format = "0%"
    # each point's value printed by it: a printed chart has no tooltips
    chart.dataLabels = DataLabelList()
    chart.dataLabels.showVal = True
    data = Reference(sheet, min_col=1, max_col=months + 1, min_row=2, max_row=units + 1)
    chart.add_data(data, from_rows=True, titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=2, max_col=months + 1, min_row=1))
    sheet.add_chart(chart, f"A{units + 4}")


def _notice_sheet(sheet: Any, report: MonthlyReport) -> None:
    """Who is criticised, interviewed or put up as a star; （无） where no one is."""
    sheet.append(["类别", "单位"])
    for kind, names in (
        ("通报批评", report.criticism),
        ("约谈", report.interview),
        ("作风之星候选", report.stars),
    ):
        for name in names or ["（无）"]:
            sheet.append([kind, name])
    sheet.freeze_panes = "A2"
    sheet.column_dimensions["A"].width = 14
    sheet.column_dimensions["B"].width = 24


def to_html(report: MonthlyReport, district: str = "宿豫区") -> str:
    def cell(value: object, rate: bool = False) -> str:
        if rate:
            return f"<td>{format_rate(value if isinstance(value, float) else None)}</td>"
        return f"<td>{html.escape('-' if value is None else str(value))}</td>"

    rows = "\n".join(
        "<tr>" + "".join(cell(v, rate=i == len(HEADERS) - 1) for i, v in enumerate(_row(f))) + "</tr>"
        for f in report.units
    )
    months = list(next(iter(report.trend.values()), {}).keys())
    bars = "\n".join(
        f"<tr><td>{html.escape(f.name)}</td><td>{trend_svg(f.name, report.trend.get(f.unit_id, {}))}</td></tr>"
        for f in report.units
    )
    unfinished = (
        ""
        if report.complete
        else '<p class="unfinished"><strong>本月尚未结束。</strong>以下为截至上述时刻的情况：'
        "截止时间未到的事项列为“待办”，不计为逾期；通报名单仅供参考，以月末数字为准。</p>"
    )
    lists = "".join(
        f"<h3>{title}</h3><p>{html.escape('、'.join(names) or '（无）')}</p>"
        for title, names in (
            ("通报批评", report.criticism),
            ("约谈", report.interview),
            ("作风之星候选", report.stars),
        )
    )
    listed = "通报（截至此刻，本月尚未结束，仅供参考）" if not report.complete else "通报"
    footnotes = "".join(f"<p>{html.escape(line)}</p>" for line in notes(report)[1:])
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(district)}营商环境督办月报 {report.period.label}</title>
<style>body{{font-family:'PingFang SC','Microsoft YaHei',sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}
.notes{{font-size:90%;max-width:60em}}.unfinished{{border:2px solid #000;padding:.4em .8em}}
table.trend td{{vertical-align:middle}}svg.trend{{display:block}}
@media print{{body{{margin:0}}h1{{font-size:16pt}}tr,svg{{break-inside:avoid}}}}</style></head><body>
<h1>{html.escape(district)}优化营商环境督办月报（{report.period.label}{"" if report.complete else "，月份未结束"}）</h1>
<p class="as-of">{html.escape(as_of(report))}</p>
{unfinished}
<h2>各单位办理情况</h2>
<table id="figures"><tr>{"".join(f"<th>{h}</th>" for h in HEADERS)}</tr>
{rows}</table>
<div class="notes">{footnotes}</div>
<h2>按时率趋势（{html.escape(" ~ ".join(months[:1] + months[-1:]))}）</h2>
<p class="notes">每根柱上方为当月按时率，下方为月份；“无”表示当月没有计入事项（不是0%）。</p>
<table class="trend">{bars}</table>
<h2>{listed}</h2>{lists}
</body></html>
"""
