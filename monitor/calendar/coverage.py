"""Which calendar years people must be warned about at an instant: the one decision every surface
shares (check-config, /readyz, the status page, the daemon's start, `dutywatch demo` and the
`dutywatch_calendar_covered` metric), so the words and the metric never disagree.

A year is *watched* when it is the current year in Asia/Shanghai or, from 1 November 00:00
Shanghai time, the next one: the State Council publishes each year's notice around November, so
that is when its absence becomes worth saying. A watched year with no notice loaded (neither
the `chinesecalendar` package nor an override file covers it) gets a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from monitor.calendar.working_days import WorkCalendar
from monitor.clock import local_date

WARN_FROM_MONTH = 11  # 1 November, Shanghai time


@dataclass(frozen=True)
class CoverageWarning:
    """A watched year with no State Council notice loaded, and what the calendar does about it."""

    year: int
    mode: Literal["provisional", "strict"]  # provisional deadlines, or refusal

    @property
    def message(self) -> str:
        """The warning in English, for operators' terminals and logs."""
        if self.mode == "provisional":
            consequence = (
                f"deadlines in {self.year} are computed provisionally from the statutory holidays "
                "(no bridging or make-up working days) and may move when the notice is loaded"
            )
        else:
            consequence = (
                f"calendar.unannounced is strict, so every deadline that falls in {self.year} is "
                "refused until the notice is loaded"
            )
        return (
            f"no State Council holiday notice loaded for {self.year}: {consequence}; fix: "
            f"dutywatch calendar import-notice FILE, or add config/calendar/{self.year}.yaml"
        )

    @property
    def message_zh(self) -> str:
        """The warning in Chinese, for the status page."""
        if self.mode == "provisional":
            consequence = f"{self.year}年的截止时间按法定节假日临时计算（不含调休），导入通知后可能变动"
        else:
            consequence = f"本系统设为严格模式，{self.year}年的截止时间在导入通知前无法计算"
        return (
            f"{self.year}年的国务院节假日安排尚未导入：{consequence}。请管理员运行 "
            f"dutywatch calendar import-notice 导入通知，或添加 config/calendar/{self.year}.yaml。"
        )


def watched_years(at: datetime) -> list[int]:
    """The current Shanghai year and, from 1 November, the next one."""
    today = local_date(at)
    return [today.year] + ([today.year + 1] if today.month >= WARN_FROM_MONTH else [])


def coverage(calendar: WorkCalendar, at: datetime) -> dict[int, bool]:
    """Each watched year at `at`, True when a State Council notice covers it."""
    return {year: calendar.is_official(year) for year in watched_years(at)}


def coverage_warnings(calendar: WorkCalendar, at: datetime) -> list[CoverageWarning]:
    """The watched years at `at` (an aware instant) that lack a notice, earliest first."""
    return [
        CoverageWarning(year, calendar.unannounced)
        for year, official in coverage(calendar, at).items()
        if not official
    ]


__all__ = ["CoverageWarning", "coverage", "coverage_warnings", "watched_years"]
