"""docs/roster.md names every section of the roster with exactly the fields ingest reads."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.ingest.roster import FIELDS, ROLES, UNIT_KINDS

DOC = (Path(__file__).resolve().parents[2] / "docs/roster.md").read_text(encoding="utf-8")


def documented_sections() -> dict[str, str]:
    """Each `- `section`: …` item of the page, up to the next item."""
    items = re.split(r"^- `([a-z]+)`[^:]*:", DOC, flags=re.M)[1:]
    return {name: text.split("\n- ", 1)[0] for name, text in zip(items[::2], items[1::2], strict=True)}


def test_each_section_lists_the_fields_ingest_reads() -> None:
    sections = documented_sections()
    assert sorted(sections) == sorted(FIELDS)
    for name, fields in FIELDS.items():
        named = set(re.findall(r"`([a-z_]+)`", sections[name]))
        assert set(fields) <= named, (name, set(fields) - named)


def test_the_allowed_unit_kinds_and_roles_are_the_validators() -> None:
    sections = documented_sections()
    assert set(UNIT_KINDS) <= set(re.findall(r"`([a-z_]+)`", sections["units"]))
    assert set(ROLES) <= set(re.findall(r"`([a-z_]+)`", sections["officials"]))
