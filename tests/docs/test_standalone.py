"""The repository stands alone: no file points at documents that live outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Spelled as patterns so that this file does not name what it forbids. The design notes and the
# policy used to live in a sibling folder ("shared") that no user of the repository has.
OUTSIDE = re.compile(
    r"\.\./shared\b|/wor[k]/|\bshared/(?:notes|policy|hooks)\b|\b(?:DESIGN|OBLIGATIONS|STYLE)\.md\b"
    r"|(?<![\w/.-])notes/[\w-]+\.md\b"
)


def tracked_files() -> list[Path]:
    """The files git tracks, plus new ones not yet added (so a test run before a commit sees them)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8")
    return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def outside_references(path: Path) -> list[str]:
    """Each `line: text` of the file that names a document outside the repository."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:  # a workbook or an image: no prose to point anywhere
        return []
    return [
        f"{number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), start=1)
        if OUTSIDE.search(line)
    ]


def test_the_pattern_catches_each_way_of_pointing_outside() -> None:
    for line in (
        "see ../" + "shared/" + "DESIGN" + ".md",
        "the ids of OBLIGATIONS" + ".md",
        "(shared/" + "notes/" + "channels-cn.md)",
        "pinned (notes/durable-rules" + ".md)",
    ):
        assert OUTSIDE.search(line), line
    for line in ("docs/policy/obligations.md", "docs/events.md", "see docs/operations.md"):
        assert not OUTSIDE.search(line), line


def test_no_file_points_outside_the_repository() -> None:
    files = tracked_files()
    assert any(p.name == "pyproject.toml" for p in files)  # the listing itself worked
    found = {str(path.relative_to(ROOT)): refs for path in files if (refs := outside_references(path))}
    assert not found, f"files pointing outside the repository: {found}"


def test_the_obligations_table_in_the_repository_names_exactly_the_rule_ids() -> None:
    """docs/policy/ holds the policy text and its obligations; the table's ids are the code's."""
    from monitor.rulebook import RULE_IDS

    obligations = (ROOT / "docs/policy/obligations.md").read_text(encoding="utf-8")
    policy = (ROOT / "docs/policy/suyu-2024-1.txt").read_text(encoding="utf-8")
    assert "宿豫政办发〔2024〕1号" in policy
    table_ids = re.findall(r"^\| `([a-z0-9-]+)` \|", obligations, flags=re.MULTILINE)
    assert sorted(table_ids) == sorted(RULE_IDS)


LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_relative_link_of_the_docs_reaches_a_file_of_the_repository() -> None:
    broken, checked = [], 0
    for page in (p for p in tracked_files() if p.suffix == ".md"):
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address or an anchor of the same page
            checked += 1
            resolved = (page.parent / target.split("#", 1)[0]).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert checked > 10  # the pattern finds the links the docs hold
    assert not broken, broken
