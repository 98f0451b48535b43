"""The statutory rest days of a year, from the law alone: what a year is before its notice.

全国年节及纪念日放假办法 (as amended in 2024, in force from 2025) fixes the holidays every
citizen has: 元旦 (1 January), 春节 (除夕 and 正月初一 to 初三), 清明节, 劳动节 (1 and 2 May),
端午节, 中秋节, 国庆节 (1 to 3 October); a holiday that falls on a Saturday or Sunday is made up on
a working day (art. 6). The lunar and solar-term dates come from the `holidays` package, which
implements that law year by year with its own lunisolar tables (2025 amendment included) — we
do not keep astronomical tables of our own. What the law leaves to each year's State Council
notice, the bridging days and the weekend days made working days (调休), is unknown until the
notice: a provisional year has none, so its weekends stay rest days.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from holidays.countries.china import China


@lru_cache(maxsize=32)
def statutory_rest_days(year: int) -> frozenset[date]:
    """Weekday and weekend dates the law gives off in `year`, substitute days included."""
    # `holidays` names the law's substitute days "(observed)"; for a year whose notice it knows it
    # would add the notice's own days off too, but we ask only for years no notice covers here.
    rest = China(years=year, observed=True)  # type: ignore[no-untyped-call]
    return frozenset(d for d in rest if d.year == year)


__all__ = ["statutory_rest_days"]
