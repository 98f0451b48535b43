"""Subjects read in one place: every form parses to its kind and ids, prints back as it was, and
the steady tick's fast reading agrees with the full one."""

from __future__ import annotations

import pytest

from monitor.subjects import SUBJECT_FORMS, Subject, scope_id

CODE = "91321311MA1XXXXX0Q"
EXAMPLES = {
    "pairing": (f"pairing:o-fgj-01:{CODE}", Subject("pairing", "o-fgj-01", CODE)),
    "unit": ("unit:fgj", Subject("unit", "fgj")),
    "case": ("case:C2026-001", Subject("case", "C2026-001")),
    "enterprise": (f"enterprise:{CODE}", Subject("enterprise", CODE)),
    "review": ("review:R2026-07", Subject("review", "R2026-07")),
    "project": ("project:P1:item-3", Subject("project", "P1", "item-3")),
}


def test_every_form_has_an_example() -> None:
    assert EXAMPLES.keys() == SUBJECT_FORMS.keys()


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_a_subject_parses_to_its_ids_and_prints_back(kind: str) -> None:
    text, read = EXAMPLES[kind]
    assert Subject.parse(text) == read
    assert str(read) == text


def test_the_enterprise_of_a_subject() -> None:
    assert Subject.parse(EXAMPLES["pairing"][0]).enterprise == CODE
    assert Subject.parse(EXAMPLES["enterprise"][0]).enterprise == CODE
    assert Subject.parse(EXAMPLES["case"][0]).enterprise is None


def test_a_pairing_is_read_from_its_end_and_a_project_from_its_start() -> None:
    """An owner id is read up to the enterprise's code; a project id up to its item."""
    assert Subject.parse(f"pairing:unit:x:{CODE}") == Subject("pairing", "unit:x", CODE)
    assert Subject.parse("project:P1:a:b") == Subject("project", "P1", "a:b")


@pytest.mark.parametrize("kind", ["pairing", "case", "enterprise"])
def test_the_fast_scope_agrees_with_the_parsed_subject(kind: str) -> None:
    text, read = EXAMPLES[kind]
    assert scope_id(text) == (read.enterprise if kind == "pairing" else read.id)
