"""The monthly report as CSV, a real XLSX workbook (openpyxl), or one self-contained HTML page."""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path

from monitor.cellsafe import csv_row, text_cells_as_text
from monitor.reports import MonthlyReport, UnitFigures

HEADERS = [
    "单位",
    "应办事项",
    "按时办结",
    "逾期办结",
    "未办",
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
        f.cases,
        f.cases_in_time,
        f.cases_escalated,
        f.cases_reopened,
        f.bad_reviews,
        f.rectified,
        f.rate,
    ]


def to_csv(report: MonthlyReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for f in report.units:
        row = _row(f)
        row[-1] = "" if f.rate is None else f"{f.rate:.3f}"
        writer.writerow(csv_row(row))
    return out.getvalue()


def to_xlsx(report: MonthlyReport, path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.chart import LineChart, Reference
    from openpyxl.styles import Font

    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "汇总"
    summary.append(HEADERS)
    for f in report.units:
        summary.append(_row(f))
    for cell in summary[1]:
        cell.font = Font(bold=True)
    summary.freeze_panes = "B2"
    summary.column_dimensions["A"].width = 22
    for column in "BCDEFGHIJKLM":
        summary.column_dimensions[column].width = 10
    for row in summary.iter_rows(min_row=2, min_col=13, max_col=13):
        row[0].number_format = "0.0%"

    months = list(next(iter(report.trend.values()), {}).keys())
    trend = book.create_sheet("趋势")
    trend.append(["单位", *months])
    for f in report.units:
        trend.append([f.name, *(report.trend.get(f.unit_id, {}).get(m) for m in months)])
    trend.freeze_panes = "B2"
    trend.column_dimensions["A"].width = 22
    for row in trend.iter_rows(min_row=2, min_col=2):
        for cell in row:
            cell.number_format = "0.0%"
    if report.units and months:
        chart = LineChart()
        chart.title = "按时率（近六个月）"
        chart.y_axis.number_format = "0%"
        data = Reference(trend, min_col=1, max_col=len(months) + 1, min_row=2, max_row=len(report.units) + 1)
        chart.add_data(data, from_rows=True, titles_from_data=True)
        chart.set_categories(Reference(trend, min_col=2, max_col=len(months) + 1, min_row=1))
        trend.add_chart(chart, f"A{len(report.units) + 4}")

    notice = book.create_sheet("通报")
    notice.append(["类别", "单位"])
    for kind, names in (
        ("通报批评", report.criticism),
        ("约谈", report.interview),
        ("作风之星候选", report.stars),
    ):
        for name in names or ["（无）"]:
            notice.append([kind, name])
    notice.freeze_panes = "A2"
    notice.column_dimensions["A"].width = 14
    notice.column_dimensions["B"].width = 24
    for sheet in book.worksheets:
        text_cells_as_text(sheet)
    book.save(path)


def to_html(report: MonthlyReport, district: str = "宿豫区") -> str:
    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"<td>{value:.1%}</td>"
        return f"<td>{html.escape('-' if value is None else str(value))}</td>"

    rows = "\n".join("<tr>" + "".join(cell(v) for v in _row(f)) + "</tr>" for f in report.units)
    months = list(next(iter(report.trend.values()), {}).keys())
    bars = []
    for f in report.units:
        series = report.trend.get(f.unit_id, {})
        spans = "".join(
            f'<span title="{m}: {"-" if series.get(m) is None else f"{series[m]:.0%}"}" style="display:inline-block;'
            f'width:14px;margin-right:2px;background:#3b7dd8;height:{int(40 * (series.get(m) or 0))}px"></span>'
            for m in months
        )
        bars.append(
            f"<tr><td>{html.escape(f.name)}</td><td style='vertical-align:bottom;height:44px'>{spans}</td></tr>"
        )
    lists = "".join(
        f"<h3>{title}</h3><p>{html.escape('、'.join(names) or '（无）')}</p>"
        for title, names in (
            ("通报批评", report.criticism),
            ("约谈", report.interview),
            ("作风之星候选", report.stars),
        )
    )
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(district)}营商环境督办月报 {report.period.label}</title>
<style>body{{font-family:'PingFang SC','Microsoft YaHei',sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}
@media print{{body{{margin:0}}h1{{font-size:16pt}}}}</style></head><body>
<h1>{html.escape(district)}优化营商环境督办月报（{report.period.label}）</h1>
<h2>各单位办理情况</h2>
<table><tr>{"".join(f"<th>{h}</th>" for h in HEADERS)}</tr>
{rows}</table>
<h2>按时率趋势（{html.escape(" ~ ".join(months[:1] + months[-1:]))}）</h2>
<table>{"".join(bars)}</table>
<h2>通报</h2>{lists}
</body></html>
"""
