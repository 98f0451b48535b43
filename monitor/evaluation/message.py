"""What an alert says: its rule's message over the duty's variables, rendered when first read.

A whole evaluation makes a message for every alert it raises, a province's 900,000, and renders
few of them: a tick writes the message of an alert only when the message's key (what it is made
of: `Rulebook.message_key`) differs from the key its stored row keeps, and the API, the
notifications and the reports read the stored row. The key costs less than a rendering; both
are computed on demand, from the settled duty, the matcher's decision and the owner's name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from monitor.clock import plain_minute
from monitor.rulebook import Rule, Rulebook, fingerprint

if TYPE_CHECKING:
    from monitor.evaluation.engine import Decision
    from monitor.evaluation.obligations import Obligation

# a due time as a message says it: a province's 900,000 alerts have a few thousand due times
_due_minute = lru_cache(maxsize=1 << 14)(plain_minute)

# said after a message whose due time or day counts rest on a year not yet announced
PROVISIONAL_SUFFIX = {
    "zh": "（该年度节假日安排尚未公布，时限按法定节假日临时计算）",
    "en": " (provisional: that year's official holiday schedule is not yet published)",
}


class Wording(ABC):
    """An alert's message: its text and the key of what the text is made of (equal keys, equal
    texts). Two wordings are equal when their texts are."""

    __slots__ = ()

    @abstractmethod
    def text(self) -> str: ...

    @abstractmethod
    def key(self) -> str: ...

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Wording) and self.text() == other.text()

    def __hash__(self) -> int:
        return hash(self.text())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text()!r})"


class Written(Wording):
    """A message given as text (a test's, the API reference's example)."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def text(self) -> str:
        return self._text

    def key(self) -> str:
        return fingerprint(self._text)


class RuleMessage(Wording):
    """The rule's message in a language for a settled duty at the matcher's decision; rendered,
    and its key made, when first asked for. The duty is read then: an evaluation settles its
    duties before it makes their alerts and changes them no more. Nothing it holds reads the
    database (the owner's name comes looked up): an evaluation's messages read alike after its
    session has ended."""

    __slots__ = (
        "_decision",
        "_key",
        "_language",
        "_obligation",
        "_owner_name",
        "_rule",
        "_rulebook",
        "_text",
    )

    def __init__(
        self,
        rulebook: Rulebook,
        rule: Rule,
        language: str,
        obligation: Obligation,
        decision: Decision,
        owner_name: str,
    ) -> None:
        self._rulebook = rulebook
        self._rule = rule
        self._language = language
        self._obligation = obligation
        self._decision = decision
        self._owner_name = owner_name
        self._text: str | None = None
        self._key: str | None = None

    def variables(self) -> dict[str, Any]:
        """The names the rule's template sees."""
        obligation = self._obligation
        variables = message_variables(obligation, self._decision, self._rule, self._language)
        variables.setdefault("owner_name", self._owner_name)
        return variables

    def _suffix(self) -> str:
        if not self._obligation.provisional:
            return ""
        return PROVISIONAL_SUFFIX.get(self._language, PROVISIONAL_SUFFIX["zh"])

    def text(self) -> str:
        if self._text is None:
            rendered = self._rulebook.render(self._rule.id, self._language, self.variables())
            self._text = rendered + self._suffix()
        return self._text

    def key(self) -> str:
        if self._key is None:
            self._key = self._rulebook.message_key(
                self._rule.id, self._language, self.variables(), self._suffix()
            )
        return self._key


def message_variables(obligation: Obligation, decision: Decision, rule: Rule, lang: str) -> dict[str, Any]:
    """The names a rule's message template sees (tests render every rule's message with it)."""
    return {
        **obligation.variables,
        "state": decision.state,
        "level": decision.level,
        "period": obligation.period or "",
        "due": _due_minute(obligation.due_at),
        "working_days_to_due": obligation.working_days_to_due,
        "working_days_overdue": obligation.working_days_overdue,
        "clause": rule.clause,
        "title": rule.title.get(lang),
        "due_working_days": rule.due_working_days,  # the limit the message states, from the rule
    }
