"""The policy's rules as data: the schema of `rules/*.yaml`, loaded with precise errors.

Each entry defines one obligation id of docs/policy/obligations.md: its clause and quote, lead units, the
kind of obligation (which evaluator computes its facts), period or clock, what fulfils it, when
to warn, its escalation ladder, inhibitions and messages (Chinese first, English too). Every
number an operator may want to change lives here, not in code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from hashlib import blake2b
from pathlib import Path
from typing import Literal

import jinja2
from jinja2 import nodes
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from monitor.periods import PeriodKind
from monitor.yamlsource import SourceError, YamlDocument, load_yaml_mapping, pydantic_errors

RULE_IDS = (
    "pairing-monthly-contact",
    "pairing-monthly-visit",
    "pairing-semiannual-briefing",
    "pairing-annual-matchmaking",
    "unit-semiannual-forum",
    "unit-annual-salon",
    "unit-bimonthly-coordination",
    "unit-monthly-review-report",
    "unit-monthly-hotline-report",
    "case-simple-same-day",
    "case-complex-5-workdays",
    "case-major-to-meeting",
    "case-escalation",
    "case-repeat-report",
    "review-bad-rectification",
    "hotline-order-deadline",
    "project-item-deadline",
)

ObligationKind = Literal[
    "pairing_activity",  # a pairing's recurring duty in each period
    "unit_activity",  # a unit's recurring meeting in each period
    "unit_report",  # a unit's monthly notice, due N working days into the next month
    "case_clock",  # feedback on a case within N working days (or its own due time)
    "case_meeting",  # a major case on the agenda of the coordination meeting
    "case_ladder",  # an overdue case reported up the ladder
    "repeat_report",  # the same enterprise reporting the same problem again
    "review_rectification",  # a bad review rectified within N working days
    "project_item",  # a project's checklist item done by its due date
]

# What each kind's duties are keyed by besides the rule (monitor/evaluation/obligations forms the
# keys, and a waiver must name one of them to waive anything): the kind of subject each duty is on
# (a form of monitor/subjects.py), and the kind of period, if any, that tells its duties apart. A
# recurring duty's period is the rule's own (`Rule.period`); a repeated report is the enterprise's
# duty for the month the problem was reported again; every other kind runs on a clock and its
# duties have no period. `Rule.duty_subject` and `Rule.duty_period` read them for a rule.
DUTY_SUBJECTS: Mapping[ObligationKind, str] = {
    "pairing_activity": "pairing",
    "unit_activity": "unit",
    "unit_report": "unit",
    "case_clock": "case",
    "case_meeting": "case",
    "case_ladder": "case",  # the clock's case it climbs for
    "repeat_report": "enterprise",
    "review_rectification": "review",
    "project_item": "project",
}

# The event types whose arrival changes an obligation of each kind that can be declared
# `immediate: true`: such a rule's alert is raised (or resolved) when one of these is accepted,
# not at the next tick. A bad review or a major case arises with its event; a repeated report
# with a case opened, closed or reopened; a major case leaves the meeting duty when escalated.
# Every other kind changes as time passes, which the tick watches.
CHANGED_BY_EVENTS: Mapping[str, frozenset[str]] = {
    "case_meeting": frozenset({"case_opened", "case_escalated"}),
    "repeat_report": frozenset({"case_opened", "case_closed", "case_reopened"}),
    "review_rectification": frozenset({"review"}),
}

Role = Literal[
    "owner",  # the official or unit that owes the duty
    "unit_head",  # the head of the owing unit
    "business_office",  # 区营商办
    "conduct_office",  # 区作风办
    "district_leader",  # the district leader in charge of the owing unit
    "project_manager",
    "project_unit_head",
    "project_leader",
]

ActivityType = Literal[
    "visit", "contact", "policy_briefing", "matchmaking", "forum", "salon", "coordination_meeting"
]
Complexity = Literal["simple", "complex", "major"]
Channel = Literal["window", "hotline", "platform", "visit", "forum", "supervisor", "other"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Texts(_Frozen):
    """A text in Chinese (first) and English."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, language: str) -> str:
        return self.en if language == "en" else self.zh


class Fulfilment(_Frozen):
    """What fulfils the duty."""

    events: tuple[ActivityType, ...] = ()
    talked_with_head: bool = False  # a visit counts only if it included a talk with the head
    report_kind: Literal["bad_reviews", "hotline"] | None = None
    # case clocks: the events that stop the clock
    case_events: tuple[Literal["case_feedback", "case_closed"], ...] = ()


class Scope(_Frozen):
    """Which units, cases or reviews the rule applies to."""

    unit_names: tuple[str, ...] = ()  # matched exactly against the roster's unit names
    indicator_leads: bool = False  # every unit marked indicator_lead
    complexity: tuple[Complexity, ...] = ()
    channels: tuple[Channel, ...] = ()
    exclude_channels: tuple[Channel, ...] = ()
    max_rating: int | None = Field(None, ge=1, le=5)  # reviews rated at most this are bad reviews


class LadderStep(_Frozen):
    level: int = Field(ge=0, le=5)
    # reached when this many working days have ended after the due time (0: at the due time)
    after_working_days: int = Field(ge=0)
    notify: tuple[Role, ...]


class Rule(_Frozen):
    """One obligation of the policy."""

    id: str
    title: Texts
    clause: str = Field(min_length=1)  # the numbered system(s) of the notice, e.g. "二" or "三, 十"
    quote: str = Field(min_length=1)  # the policy's own words
    lead_units: tuple[str, ...] = Field(min_length=1)
    obligation: ObligationKind
    period: PeriodKind | None = None
    fulfilled_by: Fulfilment = Fulfilment()
    applies_to: Scope = Scope()
    due_working_days: int | None = Field(None, ge=0)
    # case_meeting: a meeting counts when held at least this many working days after receipt
    meeting_grace_working_days: int = Field(2, ge=0)
    # case_ladder: the clocks whose overdue cases climb, and the level from which it reports
    ladder_of: tuple[str, ...] = ()
    # repeat_report: calendar days after a close within which the same problem counts as repeated
    repeat_window_days: int | None = Field(None, ge=1)
    warn_working_days: int = Field(0, ge=0)  # warn when this many working days or fewer remain
    escalation: tuple[LadderStep, ...] = Field(min_length=1)
    # period duties stop alerting (and count as missed) this many working days after the due time
    expire_working_days: int | None = Field(None, ge=0)
    renotify_hours: float = Field(24.0, gt=0)
    # alert from the moment the duty arises (a warning until due), without waiting for the tick
    immediate: bool = False
    message: Texts

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        """The checks no field can make alone, in the order of _RULE_CHECKS: the first broken
        one is the error."""
        for check in _RULE_CHECKS:
            check(self)
        return self

    def step_for(self, level: int) -> LadderStep:
        return next(s for s in self.escalation if s.level == level)

    @property
    def duty_subject(self) -> str:
        """The kind of subject each of the rule's duties is on ("pairing", "case", ...)."""
        return DUTY_SUBJECTS[self.obligation]

    @property
    def duty_period(self) -> PeriodKind | None:
        """The kind of period that tells the rule's duties apart; None: they have no period."""
        if self.obligation == "repeat_report":
            return "month"  # the month the problem was reported again (repeat_report_obligations)
        return self.period


def _id_is_known(rule: Rule) -> None:
    if rule.id not in RULE_IDS:
        raise ValueError(f"unknown rule id {rule.id!r}; the ids of docs/policy/obligations.md are fixed")


def _ladder_climbs(rule: Rule) -> None:
    """Each escalation step is a higher level, reached no sooner than the step before."""
    levels = [s.level for s in rule.escalation]
    if levels != sorted(set(levels)):
        raise ValueError("escalation levels must be distinct and increasing")
    days = [s.after_working_days for s in rule.escalation]
    if days != sorted(days):
        raise ValueError("escalation steps must not need fewer working days than the step before")


def _period_fits_obligation(rule: Rule) -> None:
    """A recurring duty has a period; a duty on a clock has none."""
    periodic = rule.obligation in ("pairing_activity", "unit_activity", "unit_report")
    if periodic and rule.period is None:
        raise ValueError(f"a {rule.obligation} rule needs a period")
    if not periodic and rule.period is not None:
        raise ValueError(f"a {rule.obligation} rule runs on a clock and takes no period")


def _activity_names_its_events(rule: Rule) -> None:
    if rule.obligation in ("pairing_activity", "unit_activity") and not rule.fulfilled_by.events:
        raise ValueError("fulfilled_by.events must name the events that fulfil the duty")


def _report_names_its_kind_and_due_day(rule: Rule) -> None:
    if rule.obligation == "unit_report" and (
        rule.fulfilled_by.report_kind is None or rule.due_working_days is None
    ):
        raise ValueError("a unit_report rule needs fulfilled_by.report_kind and due_working_days")


def _case_clock_names_what_stops_it(rule: Rule) -> None:
    if rule.obligation == "case_clock" and not rule.fulfilled_by.case_events:
        raise ValueError("a case_clock rule needs fulfilled_by.case_events")


def _immediate_only_when_events_change_it(rule: Rule) -> None:
    if rule.immediate and rule.obligation not in CHANGED_BY_EVENTS:
        raise ValueError(
            f"a {rule.obligation} duty changes as time passes, not as an event arrives: it cannot be "
            f"immediate (immediate kinds: {', '.join(sorted(CHANGED_BY_EVENTS))})"
        )


def _immediate_does_not_warn_ahead(rule: Rule) -> None:
    if rule.immediate and rule.warn_working_days:
        raise ValueError("an immediate rule warns from the start: warn_working_days does not apply")


def _ladder_names_its_clocks(rule: Rule) -> None:
    if rule.obligation == "case_ladder" and not rule.ladder_of:
        raise ValueError("a case_ladder rule needs ladder_of: the case clocks it watches")


def _rectification_names_due_day_and_rating(rule: Rule) -> None:
    if rule.obligation == "review_rectification" and (
        rule.due_working_days is None or rule.applies_to.max_rating is None
    ):
        raise ValueError("a review_rectification rule needs due_working_days and applies_to.max_rating")


def _unit_activity_names_its_units(rule: Rule) -> None:
    if rule.obligation == "unit_activity" and not (
        rule.applies_to.unit_names or rule.applies_to.indicator_leads
    ):
        raise ValueError("a unit_activity rule needs applies_to.unit_names or indicator_leads")


# in the order a rule file's author meets them: which rule, its ladder, its period, what fulfils
# it, whether it is immediate, then what each kind of obligation needs besides
_RULE_CHECKS: tuple[Callable[[Rule], None], ...] = (
    _id_is_known,
    _ladder_climbs,
    _period_fits_obligation,
    _activity_names_its_events,
    _report_names_its_kind_and_due_day,
    _case_clock_names_what_stops_it,
    _immediate_only_when_events_change_it,
    _immediate_does_not_warn_ahead,
    _ladder_names_its_clocks,
    _rectification_names_due_day_and_rating,
    _unit_activity_names_its_units,
)


class RuleFile(_Frozen):
    rules: tuple[Rule, ...]


# The form messages are rendered in (jinja's settings here, `fold_spaces`): a message's key
# (`Rulebook.message_key`) covers it, so that a release rendering otherwise writes every stored
# message anew. Change it with the rendering.
MESSAGE_FORM = "1"


def fingerprint(text: str) -> str:
    """32 hex digits naming the text (blake2b): a template's source, a message's inputs."""
    return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _wide(char: str) -> bool:
    """A Chinese character or a full-width sign (CJK symbols and punctuation to the unified
    ideographs, and the half- and full-width forms)."""
    return "\u3000" <= char <= "\u9fff" or "\uff00" <= char <= "\uffef"


def fold_spaces(text: str, chinese: bool) -> str:
    """Whitespace runs as one space, as YAML folds a message's lines; in Chinese text a space
    beside a Chinese character or full-width sign goes (either side), between Latin words and
    digits it stays. Word by word: a regular expression's look-arounds cost a message 4 µs of
    its 12, this a fraction of one (a province renders 900,000 messages)."""
    words = text.split()
    if not chinese or len(words) < 2:
        return " ".join(words)
    folded = [words[0]]
    last = words[0][-1]
    for word in words[1:]:
        if not (_wide(last) or _wide(word[0])):
            folded.append(" ")
        folded.append(word)
        last = word[-1]
    return "".join(folded)


class MessageTemplate(jinja2.Template):
    """A rule's compiled message: rendered once per alert, a million times in a province's full
    evaluation (the cache keeps a round of 100,000).

    `fill` renders over the variables themselves: jinja's `render` copies them into a new dict
    with the environment's globals (`range`, `dict`, `lipsum`, ...) for every call, 6 of its 10
    microseconds. A message that names one of those globals is rendered the usual way."""

    names_globals = True  # set by `compile_message`
    digest = ""  # of its source, set by `compile_message`: what a message key says of the template

    def fill(self, variables: dict[str, object]) -> str:
        if self.names_globals:
            return self.render(variables)
        try:
            # shared: the context reads `variables` as its parent; what the template sets goes to its own
            return self.environment.concat(self.root_render_func(self.new_context(variables, shared=True)))
        except Exception:
            self.environment.handle_exception()  # raises, the traceback pointing into the template


_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
_JINJA.template_class = MessageTemplate


def compile_message(source: str) -> MessageTemplate:
    """A rule's message template compiled (jinja2.TemplateSyntaxError if it is not one)."""
    template = _JINJA.from_string(source)
    assert isinstance(template, MessageTemplate)
    # every name the template loads (jinja's own meta.find_undeclared_variables leaves its globals out)
    loaded = {name.name for name in _JINJA.parse(source).find_all(nodes.Name) if name.ctx == "load"}
    template.names_globals = bool(loaded & _JINJA.globals.keys())
    template.digest = fingerprint(source)
    return template


@dataclass(frozen=True)
class Rulebook:
    """The loaded rules by id, in the fixed order of RULE_IDS, with compiled message templates."""

    rules: Mapping[str, Rule]
    templates: Mapping[tuple[str, str], MessageTemplate]

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules.values())

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled as its rules (to the evaluation process): the templates are compiled again from
        the rules' messages there."""
        return (_rebuilt, (dict(self.rules), tuple(self.templates)))

    @property
    def immediate_event_types(self) -> frozenset[str]:
        """The event types that wake an evaluation as they are accepted: those that change a
        duty of a rule declared `immediate: true` (CHANGED_BY_EVENTS)."""
        return frozenset().union(*(CHANGED_BY_EVENTS[r.obligation] for r in self if r.immediate))

    def __getitem__(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    def render(self, rule_id: str, language: str, variables: Mapping[str, object]) -> str:
        """The rule's message in the language; YAML folding spaces next to Chinese are dropped.

        Nothing is cached: a tick renders a message only when its key (`message_key`) differs
        from the stored one's, that is when the text would."""
        text = self.templates[(rule_id, language)].fill(
            variables if isinstance(variables, dict) else dict(variables)
        )
        return fold_spaces(text, language == "zh")

    def message_key(
        self, rule_id: str, language: str, variables: Mapping[str, object], suffix: str = ""
    ) -> str:
        """What the rule's message in the language over these variables (and a suffix after it)
        is made of, as 32 hex digits: the rendering form, the template's source, and the
        variables' names and values in order. Equal keys, equal messages: a stored alert keeps
        its message's key, and a tick renders only the messages whose key changed.

        Stable across processes and releases (not Python's salted `hash`). A text goes in as its
        length and itself, anything else as its repr (3 is not "3": a template tells them
        apart), so that no two sets of values read alike; a value whose repr is not stable (an
        object's address) makes a key that never matches, and its message is rendered each time.
        Texts are not repr'd: repr checks every Chinese character for printability (a key took
        12.7 µs that way at a province's size, 8.4 µs this way)."""
        template = self.templates[(rule_id, language)]
        values = "\x1f".join([f"{len(v)}:{v}" if type(v) is str else repr(v) for v in variables.values()])
        made = "\x1e".join((MESSAGE_FORM, template.digest, "\x1f".join(variables), values, suffix))
        return fingerprint(made)


def _rebuilt(rules: dict[str, Rule], languages: tuple[tuple[str, str], ...]) -> Rulebook:
    return Rulebook(rules, {(r, lang): compile_message(rules[r].message.get(lang)) for r, lang in languages})


def load_rulebook(directory: Path, *, require_all: bool = True) -> Rulebook:
    """Load every `*.yaml` in the directory; raises the first SourceError (see rule_problems)."""
    rulebook, errors = load_rules(directory, require_all=require_all)
    if errors:
        raise errors[0]
    assert rulebook is not None
    return rulebook


def load_rules(directory: Path, *, require_all: bool = True) -> tuple[Rulebook | None, list[SourceError]]:
    """Load and check the rule files; every problem comes back as a file:line error."""
    files = sorted(directory.glob("*.yaml")) if directory.is_dir() else []
    if not files:
        return None, [SourceError(str(directory), 0, "no rule files (*.yaml) found")]
    read = _RuleFiles()
    for path in files:
        read.read(path)
    read.check_ladders()
    if require_all and not read.errors:
        read.check_complete(directory)
    if read.errors:
        return None, read.errors
    ordered = {r: read.rules[r] for r in RULE_IDS if r in read.rules}
    return Rulebook(ordered, read.templates), []


@dataclass
class _RuleFiles:
    """What the rule files read so far hold: each rule with the file and line that defined it
    first, its compiled messages, and every problem found, in the order found."""

    rules: dict[str, Rule] = field(default_factory=dict)
    where: dict[str, tuple[str, int]] = field(default_factory=dict)
    templates: dict[tuple[str, str], MessageTemplate] = field(default_factory=dict)
    errors: list[SourceError] = field(default_factory=list)

    def read(self, path: Path) -> None:
        """One file's rules; a file that does not parse adds its problems and no rule."""
        try:
            doc = load_yaml_mapping(path)
        except SourceError as exc:
            self.errors.append(exc)
            return
        try:
            parsed = RuleFile.model_validate(doc.data)
        except ValidationError as exc:
            self.errors.extend(pydantic_errors(doc, exc))
            return
        if not parsed.rules:
            self.errors.append(doc.error(("rules",), "the file defines no rule"))
        for i, rule in enumerate(parsed.rules):
            self._add(path, doc, i, rule)

    def _add(self, path: Path, doc: YamlDocument, i: int, rule: Rule) -> None:
        """The file's i-th rule, unless an earlier one has its id."""
        if rule.id in self.where:
            file, line = self.where[rule.id]
            self.errors.append(
                doc.error(("rules", i, "id"), f"rule {rule.id} is defined again (first in {file}:{line})")
            )
            return
        self._compile_messages(doc, i, rule)
        self.rules[rule.id] = rule
        self.where[rule.id] = (str(path), doc.line_of(("rules", i)))

    def _compile_messages(self, doc: YamlDocument, i: int, rule: Rule) -> None:
        for language in ("zh", "en"):
            try:
                self.templates[(rule.id, language)] = compile_message(rule.message.get(language))
            except jinja2.TemplateSyntaxError as exc:
                self.errors.append(
                    doc.error(("rules", i, "message", language), f"template error: {exc.message}")
                )

    def check_ladders(self) -> None:
        """A case ladder watches only clocks the policy has."""
        for rule_id, rule in self.rules.items():
            file, line = self.where[rule_id]
            for other in rule.ladder_of:
                if other not in RULE_IDS:
                    self.errors.append(
                        SourceError(file, line, f"{rule_id}: refers to unknown rule {other!r}")
                    )

    def check_complete(self, directory: Path) -> None:
        """Every obligation of the policy has its rule."""
        missing = [r for r in RULE_IDS if r not in self.rules]
        if missing:
            self.errors.append(SourceError(str(directory), 0, f"rules missing for: {', '.join(missing)}"))
