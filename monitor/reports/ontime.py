"""The on-time rate (按时率), defined once for the status page, the monthly report and its mail.

Which duties count, in which month, and what each status means for the rate:

- counted: every duty of every rule but the escalation ladder (`case_ladder`), which is the
  escalation of a case clock already counted; counting it too would count one late answer twice;
- month: the duty's due time falls in [00:00 of the 1st, 00:00 of the next 1st), Asia/Shanghai;
- on time: met by its due time (`met_on_time`);
- late: met after its due time (`met_late`);
- missed: its due time has passed unmet (`overdue`, `missed`);
- pending: not yet due and not yet met, or its due time cannot be told yet (`pending`,
  `uncomputable`): shown apart, never a failure, since it may still be met on time;
- waived: a waiver (closed enterprise, force majeure) set it aside (`waived`): shown apart.

rate = on time / (on time + late + missed); with nothing on time, late or missed there is no
rate (shown as 无), which is not 0%.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from monitor.clock import start_of_day
from monitor.periods import Period
from monitor.rulebook import Rulebook

Outcome = Literal["on_time", "late", "missed", "pending", "waived"]

# obligation kinds that are not duties of their own (see the module docstring)
NOT_COUNTED = frozenset({"case_ladder"})

OUTCOMES: dict[str, Outcome] = {
    "met_on_time": "on_time",
    "met_late": "late",
    "overdue": "missed",
    "missed": "missed",
    "pending": "pending",
    "uncomputable": "pending",
    "waived": "waived",
}

DEFINITION_ZH = (
    "按时率 = 按时办结 ÷（按时办结 + 逾期办结 + 逾期未办）。"
    "统计范围：截止时间在本月内（北京时间本月1日0时至下月1日0时前）的各项职责，"
    "含走访、联系、宣讲、座谈、会办、月报、项目节点、诉求反馈时限、重大问题提交会办、差评整改；"
    "分级升级是对诉求反馈时限的督办，不另计。"
    "截止时间未到且尚未办结（或截止时间待定）的为“待办”，另列，不计入；"
    "经批准豁免的为“已豁免”，另列，不计入。"
    "没有计入事项时显示“无”，不是0%。"
)


def outcome(status: str) -> Outcome:
    """What an obligation's status means for the rate; an unknown status is a ValueError."""
    try:
        return OUTCOMES[status]
    except KeyError:
        raise ValueError(f"no on-time outcome for status {status!r}") from None


def counted_rules(rulebook: Rulebook) -> frozenset[str]:
    """The ids of the rules whose duties count towards the rate."""
    return frozenset(r.id for r in rulebook if r.obligation not in NOT_COUNTED)


def month_bounds(month: Period) -> tuple[datetime, datetime]:
    """[start, after) of the month in Asia/Shanghai: a duty counts in it when start <= due < after."""
    return start_of_day(month.start), start_of_day(month.next().start)


@dataclass
class Tally:
    """One unit's duties of one month, by outcome."""

    on_time: int = 0
    late: int = 0
    missed: int = 0
    pending: int = 0
    waived: int = 0

    def add(self, status: str, n: int = 1) -> None:
        kind = outcome(status)
        setattr(self, kind, getattr(self, kind) + n)

    @property
    def decided(self) -> int:
        """The duties the rate is over: on time, late or missed."""
        return self.on_time + self.late + self.missed

    @property
    def rate(self) -> float | None:
        """on time / decided; None when nothing is decided (无, not 0%)."""
        return self.on_time / self.decided if self.decided else None


def format_rate(rate: float | None) -> str:
    """The rate as people read it: one decimal and a per-cent sign, or 无."""
    return "无" if rate is None else f"{rate * 100:.1f}%"
