"""Merged cells of an XLSX sheet, read as a person sees them.

Officials merge cells in their ledgers: a 日期 or 单位 written once and merged down over the rows
of several records, a heading or a note merged across columns. The file keeps the value in the
range's top-left cell only, and openpyxl's read-only mode (which we keep: it streams rows instead
of holding the sheet) neither tells the ranges nor fills them, so a continuation row read blank:
refused for a missing 日期, or, for an optional column, taken as empty without a word.

Read-only worksheets do not expose the ranges, so they are read here from the sheet's part: the
part is named by the workbook's relationships (`_rels/.rels` names the workbook,
`xl/_rels/workbook.xml.rels` each sheet's part, by the `r:id` of its `<sheet>`), and its
`<mergeCell ref="A2:A6"/>` elements come after `<sheetData>` (ECMA-376 part 1, CT_Worksheet), so
the part is streamed through expat once, keeping nothing but the ranges; a part without the
bytes `mergeCell` anywhere has none and is not parsed at all.

How a range is read (`as_seen`):

- down a column, every row of the range gets the range's value, but only a row that holds
  something of its own: a whole column merged fills no empty rows (which would count against
  the import's row limit and be refused as records missing every other field);
- across columns, the value stays in the range's first column, the others read blank: a
  ledger's headings are all different (a heading given twice is refused), so a value copied
  across would land under a heading of another meaning (走访人员 into 企业名称或信用代码), or
  under none, where it would refuse the row as a stray cell;
- a range that starts in the heading row is a heading, never data: it fills no data row below,
  and a heading merged across columns names its first column only, as before;
- a covered cell (any cell of a range but its top-left) reads blank whatever the file holds
  there: LibreOffice can keep the old contents of merged cells, hidden; nobody sees them;
- ranges that overlap (Excel refuses such a file as damaged) refuse the sheet, as does a sheet
  with more ranges than the import's row limit (each is held while the sheet is read).
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

from monitor.yamlsource import SourceError

# first row, first column, last row, last column (1-based, inclusive)
Range = tuple[int, int, int, int]

_MAIN = (
    "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "http://purl.oclc.org/ooxml/spreadsheetml/main",
)
_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"
_R = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "http://purl.oclc.org/ooxml/officeDocument/relationships",
)
_MERGE_CELL = frozenset(f"{ns} mergeCell" for ns in _MAIN)
_ROW = frozenset(f"{ns} row" for ns in _MAIN)
_SHEET = frozenset(f"{ns} sheet" for ns in _MAIN)
_RELATIONSHIP = f"{_RELATIONSHIPS} Relationship"
_MAX_ROW, _MAX_COLUMN = 1_048_576, 16_384  # Excel's sheet
_CHUNK = 1024 * 1024
_REF = re.compile(
    r"\$?(?P<col>[A-Za-z]{1,3})\$?(?P<row>\d{1,7})(?::\$?(?P<col2>[A-Za-z]{1,3})\$?(?P<row2>\d{1,7}))?"
)
HEADING_ROW = 1


class _TooMany(Exception):
    pass


@dataclass(frozen=True)
class Merges:
    """A sheet's merged ranges (by first row) and, when its part was read for them, the number of
    its last row: what the sheet's rows are read up to, so that openpyxl does not go on to parse
    the ranges into objects of its own (about 0.5 KB each) after the last row."""

    ranges: list[Range] = field(default_factory=list)
    last_row: int | None = None


def _parse(archive: zipfile.ZipFile, part: str, start: Any) -> None:
    """Stream one part of the archive through expat, `start(name, attributes)` on each element
    (names as `namespace local`); the part is never held whole."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = start
    with archive.open(part) as stream:
        while chunk := stream.read(_CHUNK):
            parser.Parse(chunk, False)
    parser.Parse(b"", True)


def _relationships(archive: zipfile.ZipFile, source: str) -> dict[str, tuple[str, str]]:
    """The relationships of a part (`""` for the package): id → (type, part name)."""
    folder, name = posixpath.split(source)
    rels = posixpath.join(folder, "_rels", f"{name}.rels")
    found: dict[str, tuple[str, str]] = {}

    def start(element: str, attributes: dict[str, str]) -> None:
        if element != _RELATIONSHIP or attributes.get("TargetMode") == "External":
            return
        target = attributes.get("Target", "")
        part = target[1:] if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        found[attributes.get("Id", "")] = (attributes.get("Type", ""), part)

    if rels in archive.NameToInfo:
        _parse(archive, rels, start)
    return found


def sheet_parts(archive: zipfile.ZipFile, file: str) -> dict[str, str]:
    """Each sheet's name → the part holding it, as the package's relationships say."""
    workbook = next(
        (part for kind, part in _relationships(archive, "").values() if kind.endswith("/officeDocument")),
        "xl/workbook.xml",
    )
    rels = _relationships(archive, workbook)
    parts: dict[str, str] = {}

    def start(element: str, attributes: dict[str, str]) -> None:
        if element not in _SHEET:
            return
        name = attributes.get("name", "")
        if name in parts:
            raise SourceError(file, 0, f"not a readable XLSX workbook: two sheets are named {name!r}")
        rid = next((attributes[f"{ns} id"] for ns in _R if f"{ns} id" in attributes), "")
        if rid in rels:
            parts[name] = rels[rid][1]

    _parse(archive, workbook, start)
    return parts


def _mentions_merges(archive: zipfile.ZipFile, part: str) -> bool:
    """Whether the part may hold a merged range: the bytes `mergeCell` appear in it, or it is
    UTF-16 (the one encoding of XML in which they would not appear as such)."""
    with archive.open(part) as stream:
        head = stream.read(4)
        if head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head:
            return True
        tail = head
        while chunk := stream.read(_CHUNK):
            if b"mergeCell" in tail + chunk[:16] or b"mergeCell" in chunk:
                return True
            tail = chunk[-16:]
    return False


def _column(letters: str) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def _bounds(ref: str) -> Range | None:
    """A merged range's rows and columns (`B2:C5`; `B2` alone is one cell), or None when `ref`
    is not a range within a sheet."""
    found = _REF.fullmatch(ref)
    if found is None:
        return None
    first_row, last_row = int(found["row"]), int(found["row2"] or found["row"])
    first_column, last_column = _column(found["col"]), _column(found["col2"] or found["col"])
    if not (1 <= first_row <= last_row <= _MAX_ROW and 1 <= first_column <= last_column <= _MAX_COLUMN):
        return None
    return first_row, first_column, last_row, last_column


def merged_ranges(archive: zipfile.ZipFile, part: str, where: str, limit: int) -> Merges:
    """The merged ranges of a sheet's part, by first row, at most `limit` of them, and its last
    row; SourceError for a range that is not one, or more of them than the limit."""
    if not _mentions_merges(archive, part):
        return Merges()
    ranges: list[Range] = []
    last_row = 0
    row = 0

    def start(element: str, attributes: dict[str, str]) -> None:
        nonlocal last_row, row
        if element in _ROW:
            # a row's `r` may be left out: it is then the one after the row before it
            given = attributes.get("r", "")
            row = int(given) if given.isdigit() else row + 1
            last_row = max(last_row, row)
            return
        if element not in _MERGE_CELL:
            return
        ref = attributes.get("ref", "")
        bounds = _bounds(ref)
        if bounds is None:
            raise SourceError(
                where, 0, f"not a readable XLSX workbook: merged range {ref!r} is not a cell range"
            )
        if bounds[0] == bounds[2] and bounds[1] == bounds[3]:
            return  # a single cell merged with itself
        if len(ranges) >= limit:
            raise _TooMany
        ranges.append(bounds)

    try:
        _parse(archive, part, start)
    except _TooMany:
        raise SourceError(
            where,
            0,
            f"more than {limit:,} merged cell ranges, the import limit (ingest.max_import_rows); "
            "unmerge the cells or split the sheet",
        ) from None
    except expat.ExpatError as exc:
        raise SourceError(where, 0, f"not a readable XLSX workbook: {exc}") from None
    ranges.sort()
    return Merges(ranges, last_row)


def _blank(value: Any) -> bool:
    return value is None or value == ""


def _name(bounds: Range) -> str:
    from openpyxl.utils import get_column_letter

    first_row, first_column, last_row, last_column = bounds
    return f"{get_column_letter(first_column)}{first_row}:{get_column_letter(last_column)}{last_row}"


def _covered(row: list[Any], number: int, active: list[tuple[Range, Any]], where: str) -> None:
    """Blank every cell of `row` (row `number`) a range covers but for its top-left; refuse
    ranges that share a cell."""
    claimed: dict[int, Range] = {}
    for bounds, _ in active:
        first_row, first_column, _, last_column = bounds
        for column in range(first_column, min(last_column, len(row)) + 1):
            other = claimed.setdefault(column, bounds)
            if other is not bounds:
                raise SourceError(
                    where, 0, f"the merged ranges {_name(other)} and {_name(bounds)} overlap: unmerge one"
                )
            if number != first_row or column != first_column:
                row[column - 1] = None


def as_seen(rows: Iterable[Sequence[Any]], ranges: list[Range], where: str) -> Iterator[Sequence[Any]]:
    """The rows of a sheet (from row 1, as openpyxl's `iter_rows` gives them) with its merged
    ranges (from `merged_ranges`, by first row) read as a person sees them (module docstring)."""
    if not ranges:
        yield from rows
        return
    upcoming = iter(ranges)
    following = next(upcoming, None)
    active: list[tuple[Range, Any]] = []  # a range covering the current row, and its value
    for number, given in enumerate(rows, start=1):
        if active and any(bounds[2] < number for bounds, _ in active):
            active = [(bounds, value) for bounds, value in active if bounds[2] >= number]
        while following is not None and following[0] <= number:  # rows come from row 1, each once
            column = following[1]
            active.append((following, given[column - 1] if column <= len(given) else None))
            following = next(upcoming, None)
        if not active:
            yield given
            continue
        row = list(given)
        _covered(row, number, active, where)
        if all(_blank(value) for value in row):
            yield row  # nothing of its own: an empty row, whatever a range over it holds
            continue
        for (first_row, column, _, _), value in active:
            if HEADING_ROW < first_row < number and not _blank(value):
                if column > len(row):
                    row.extend([None] * (column - len(row)))
                row[column - 1] = value
        yield row
