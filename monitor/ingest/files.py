"""Readers for the files `dutywatch import` takes: roster (YAML, CSV, XLSX) and events (JSONL,
JSON, CSV, XLSX). Each record comes with its location (`file:line`, `file:Sheet!row`)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from monitor.ingest.ledgers import check_headings, kind_of, ledger_named
from monitor.ingest.merged import Merges, as_seen, merged_ranges, sheet_parts
from monitor.ingest.outcome import RecordOutcome
from monitor.ingest.roster import SECTIONS, Roster, load_roster
from monitor.ingest.workbook import ImportLimits, check_inflation, too_many_rows
from monitor.yamlsource import SourceError, load_yaml

Kind = Literal["roster", "events", "ledger"]
LIST_COLUMNS = ("officials", "enterprises", "cases")
MAX_FILE_BYTES = 512 * 1024 * 1024


@dataclass
class Loaded:
    """What one file holds: roster records or event records, and what could not be read."""

    path: Path
    kind: Kind
    roster: Roster
    events: list[tuple[str, object]]
    problems: list[RecordOutcome]
    ledger: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (ref, kind, row)


def _cell(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return value.strip()
    return value


def _row_record(header: list[str], row: list[Any]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name, value in zip(header, row, strict=False):
        value = _cell(value)
        if not name or value in (None, ""):
            continue
        if name in LIST_COLUMNS and isinstance(value, str):
            value = [part.strip() for part in value.split(";") if part.strip()]
        record[name] = value
    return record


def _is_events(header: list[str]) -> bool:
    return "type" in header and "at" in header


def _roster_from_rows(
    rows: dict[str, list[tuple[str, dict[str, Any]]]], ref: str
) -> tuple[Roster, list[RecordOutcome]]:
    """Flat rows (CSV, XLSX) into the roster's shape; `project_items` rows join their project."""
    data: dict[str, list[dict[str, Any]]] = {}
    refs: dict[tuple[str, int], str] = {}
    items: dict[str, list[dict[str, Any]]] = {}
    for section, entries in rows.items():
        if section == "project_items":
            for _, record in entries:
                items.setdefault(str(record.pop("project", "")), []).append(record)
            continue
        for i, (where, record) in enumerate(entries):
            record.pop("section", None)
            data.setdefault(section, []).append(record)
            refs[(section, i)] = where
    for project in data.get("projects", []):
        project["items"] = items.pop(str(project.get("id")), [])
    problems = [
        RecordOutcome(ref, None, "rejected", "project", f"items for unknown project {p!r}") for p in items
    ]
    roster, found = load_roster(
        data, ref, lambda path: refs.get((str(path[0]), int(path[1])), ref) if len(path) > 1 else ref
    )
    return roster, problems + found


def _stray_cell(header: list[str], row: Sequence[Any]) -> RecordOutcome | None:
    """A non-empty cell with no heading above it (or past the last heading of a CSV row): read,
    it would be dropped without a word, so the row is refused, naming the column."""
    from openpyxl.utils import get_column_letter

    for i, value in enumerate(row):
        if (i >= len(header) or not header[i]) and _cell(value) not in (None, ""):
            return RecordOutcome(
                "",
                None,
                "rejected",
                f"column {get_column_letter(i + 1)}",
                f"{_cell(value)!r} is in a column without a heading; name the column or remove the cell",
            )
    return None


def _refused(ref: str, problem: RecordOutcome) -> RecordOutcome:
    return RecordOutcome(ref, None, "rejected", problem.field, problem.reason)


@dataclass
class _RowCount:
    """The rows of a file that hold something, held to `limits.max_rows` across its sheets."""

    path: Path
    limits: ImportLimits
    kept: int = 0

    def one_more(self) -> None:
        self.kept += 1
        if self.kept > self.limits.max_rows:
            raise too_many_rows(self.path, self.limits)


def _unknown_sections(sections: dict[str, list[tuple[str, dict[str, Any]]]]) -> list[str]:
    return [s for s in sections if s not in (*SECTIONS, "project_items")]


def _utf8_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(str(path), 0, f"not UTF-8 text: {exc.reason}") from None


def _csv_rows(
    reader: Any, header: list[str], path: Path, limits: ImportLimits, refused: list[RecordOutcome]
) -> Iterator[tuple[str, list[str]]]:
    """The rows that hold something and have no stray cell, with their line (at most
    `limits.max_rows` of them, as a workbook's); a row with a stray cell goes to `refused`."""
    count = _RowCount(path, limits)
    for row in reader:
        if not any(c.strip() for c in row):
            continue
        count.one_more()
        ref = f"{path}:{reader.line_num}"
        stray = _stray_cell(header, row)
        if stray is not None:
            refused.append(_refused(ref, stray))
            continue
        yield ref, row


def _csv_roster(
    path: Path, header: list[str], rows: Iterator[tuple[str, list[str]]]
) -> tuple[Roster, list[RecordOutcome]]:
    """A roster section per row: its `section` column, else the file's name."""
    sections: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    default = path.stem.lower()
    for ref, row in rows:
        record = _row_record(header, row)
        section = str(record.get("section") or default)
        sections.setdefault(section, []).append((ref, record))
    unknown = _unknown_sections(sections)
    if unknown:
        raise SourceError(
            str(path),
            1,
            f"roster section {unknown[0]!r} unknown: name the file or the section column one of {', '.join(SECTIONS)}",
        )
    return _roster_from_rows(sections, str(path))


def _csv(path: Path, limits: ImportLimits) -> Loaded:
    """A CSV file: a ledger (by its name or headings), events (by their headings) or a roster."""
    reader = csv.reader(io.StringIO(_utf8_text(path)))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return Loaded(path, "events", Roster(), [], [])
    ledger = kind_of(path.stem, header) or ledger_named(path.stem, header, str(path))
    refused: list[RecordOutcome] = []
    rows = _csv_rows(reader, header, path, limits, refused)
    if ledger is not None:
        check_headings(ledger, header, str(path))
        found = [
            (ref, ledger, dict(zip(header, (c.strip() for c in row), strict=False))) for ref, row in rows
        ]
        return Loaded(path, "ledger", Roster(), [], refused, found)
    if _is_events(header):
        events: list[tuple[str, object]] = [(ref, _row_record(header, row)) for ref, row in rows]
        return Loaded(path, "events", Roster(), events, refused)
    roster, problems = _csv_roster(path, header, rows)
    return Loaded(path, "roster", roster, [], refused + problems)


@dataclass
class _Workbook:
    """What a workbook's sheets hold, read sheet by sheet: events, roster sections, ledger rows."""

    path: Path
    count: _RowCount
    events: list[tuple[str, object]] = field(default_factory=list)
    sections: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    ledger_rows: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    refused: list[RecordOutcome] = field(default_factory=list)

    def read_sheet(self, sheet: Any, merges: Merges) -> None:
        """The sheet's rows as a person sees them: each cell of a merged range down a column
        holding the range's value (monitor/ingest/merged.py)."""
        where = f"{self.path}:{sheet.title}"
        rows = as_seen(_sheet_rows(sheet, merges.last_row), merges.ranges, where)
        first = next(rows, None)
        if first is None:
            return
        header = [str(h).strip() if h is not None else "" for h in first]
        ledger = kind_of(sheet.title, header) or ledger_named(sheet.title, header, where)
        if ledger is not None:
            check_headings(ledger, header, where)
        name = sheet.title.strip().lower()
        for number, given in enumerate(rows, start=2):
            if all(c in (None, "") for c in given):
                continue
            self.count.one_more()
            # each row as wide as the headings (read past the recorded dimension, a row ends
            # with its last cell that holds something)
            row = (*given, *(None,) * (len(header) - len(given)))
            self._read_row(f"{where}!{number}", header, row, ledger, name)

    def _read_row(
        self, where: str, header: list[str], row: Sequence[Any], ledger: str | None, sheet: str
    ) -> None:
        """A row with something in it: refused for a stray cell, else a ledger row, an event or a
        record of the roster section the sheet is named after."""
        stray = _stray_cell(header, row)
        if stray is not None:
            self.refused.append(_refused(where, stray))
        elif ledger is not None:
            self.ledger_rows.append(
                (where, ledger, {h: _cell(v) for h, v in zip(header, row, strict=False) if h})
            )
        elif sheet == "events" or _is_events(header):
            self.events.append((where, _row_record(header, list(row))))
        else:
            self.sections.setdefault(sheet, []).append((where, _row_record(header, list(row))))

    def check_sections(self) -> None:
        unknown = _unknown_sections(self.sections)
        if unknown:
            raise SourceError(
                str(self.path), 0, f"sheet {unknown[0]!r} is neither events nor a roster section"
            )

    def loaded(self) -> Loaded:
        """The one kind of content the workbook holds: ledgers, a roster or events."""
        if sum(1 for part in (self.events, self.sections, self.ledger_rows) if part) > 1:
            raise SourceError(str(self.path), 0, "a workbook holds events, a roster or ledgers, not a mix")
        if self.ledger_rows:
            return Loaded(self.path, "ledger", Roster(), [], self.refused, self.ledger_rows)
        if self.sections:
            roster, problems = _roster_from_rows(self.sections, str(self.path))
            return Loaded(self.path, "roster", roster, [], self.refused + problems)
        return Loaded(self.path, "events", Roster(), self.events, self.refused)


def _xlsx(path: Path, limits: ImportLimits) -> Loaded:
    import openpyxl

    check_inflation(path, limits)
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise SourceError(str(path), 0, f"not a readable XLSX workbook: {exc}") from None
    workbook = _Workbook(path, _RowCount(path, limits))
    try:
        with zipfile.ZipFile(path) as archive:
            parts = _sheet_parts(archive, path)
            for sheet in book.worksheets:
                _read_whole(sheet)
                if sheet.sheet_state != "visible" and not _blank(sheet):
                    # a hidden copy (a draft, last year's) would be imported beside the sheet shown:
                    # read as written or refused, never what nobody looking at the workbook sees
                    raise SourceError(
                        str(path), 0,
                        f"the sheet {sheet.title!r} is hidden: unhide it to import it, or delete it",
                    )  # fmt: skip
                workbook.read_sheet(sheet, _merged_ranges(archive, parts, sheet.title, path, limits))
        workbook.check_sections()
    finally:
        book.close()
    return workbook.loaded()


@contextlib.contextmanager
def _damaged_part(where: str) -> Iterator[None]:
    """A part zipfile or expat cannot read (they raise many kinds) as the workbook's SourceError."""
    try:
        yield
    except SourceError:
        raise
    except Exception as exc:
        raise SourceError(where, 0, f"not a readable XLSX workbook: {exc}") from None


def _sheet_parts(archive: zipfile.ZipFile, path: Path) -> dict[str, str]:
    with _damaged_part(str(path)):
        return sheet_parts(archive, str(path))


def _merged_ranges(
    archive: zipfile.ZipFile, parts: dict[str, str], title: str, path: Path, limits: ImportLimits
) -> Merges:
    """The merged ranges of the sheet named `title`, at most one per row the import may hold."""
    where = f"{path}:{title}"
    if title not in parts:
        raise SourceError(where, 0, "not a readable XLSX workbook: the sheet's part is not in the file")
    with _damaged_part(where):
        return merged_ranges(archive, parts[title], where, limits.max_rows)


def _read_whole(sheet: Any) -> None:
    """Read every row and column the sheet's part holds, not just those of its recorded
    dimension. openpyxl's read-only mode gives no row or column past the `<dimension>` the
    writer recorded, and some writers record `A1` for a full sheet (openpyxl's documentation
    warns of them): every record after the first row was left out without a word."""
    sheet.reset_dimensions()


def _sheet_rows(sheet: Any, last_row: int | None) -> Iterator[tuple[Any, ...]]:
    """A read-only sheet's rows, from row 1; with `last_row` (known when the part was read for
    its merged ranges), no further, so that the rest of the part (the ranges, which openpyxl
    would parse into objects of its own, about 0.5 KB each) is not parsed again."""
    rows = sheet.iter_rows(values_only=True)
    return islice(rows, last_row) if last_row else rows


def _blank(sheet: Any) -> bool:
    """Whether a sheet holds no value at all."""
    return all(value in (None, "") for row in sheet.iter_rows(values_only=True) for value in row)


def _jsonl(path: Path, limits: ImportLimits) -> Iterator[tuple[str, object]]:
    count = _RowCount(path, limits)  # records, as a workbook's rows
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            count.one_more()
            where = f"{path}:{number}"
            try:
                # a UTF-8 byte order mark (Windows editors write one) is not part of the first record
                yield where, json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
            except UnicodeDecodeError:
                yield where, _Unreadable("the line is not UTF-8")
            except json.JSONDecodeError as exc:
                yield where, _Unreadable(f"not JSON: {exc.msg} at column {exc.colno}")
            except RecursionError:
                yield where, _Unreadable("not JSON we read: it nests too deeply")
            except ValueError as exc:  # a number of more digits than Python converts
                yield where, _Unreadable(f"not JSON we read: {exc}")


class _Unreadable:
    """A line that could not be parsed; ingest rejects it with this reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def read_file(path: Path, limits: ImportLimits | None = None) -> Loaded:
    """Read one file by its extension (and, for CSV, its header); raises SourceError."""
    limits = limits or ImportLimits()
    if not path.is_file():
        raise SourceError(str(path), 0, "no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise SourceError(str(path), 0, "file larger than 512 MiB")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        doc = load_yaml(path)
        roster, problems = load_roster(doc.data, str(path), lambda p: f"{path}:{doc.line_of(p)}")
        return Loaded(path, "roster", roster, [], problems)
    if suffix in (".jsonl", ".ndjson"):
        records = list(_jsonl(path, limits))
        problems = [
            RecordOutcome(w, None, "rejected", None, r.reason)
            for w, r in records
            if isinstance(r, _Unreadable)
        ]
        good = [(w, r) for w, r in records if not isinstance(r, _Unreadable)]
        return Loaded(path, "events", Roster(), good, problems)
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except RecursionError:
            raise SourceError(str(path), 0, "not JSON we read: it nests too deeply") from None
        except ValueError as exc:  # bad UTF-8, bad JSON, a number of more digits than Python converts
            raise SourceError(str(path), getattr(exc, "lineno", 0), f"not JSON: {exc}") from None
        items = data if isinstance(data, list) else [data]
        return Loaded(path, "events", Roster(), [(f"{path}:[{i}]", r) for i, r in enumerate(items)], [])
    if suffix == ".csv":
        return _csv(path, limits)
    if suffix == ".xlsx":
        return _xlsx(path, limits)
    raise SourceError(
        str(path),
        0,
        f"unknown file type {suffix!r}: use YAML, CSV or XLSX rosters and JSONL, CSV or XLSX events",
    )


def is_roster_file(path: Path, limits: ImportLimits | None = None) -> bool:
    """Whether a file holds a roster, from its extension and headings only, so that `import`
    can take rosters first and then read the other files one at a time (holding one file's
    records, not all of them). A file that cannot be peeked at is not a roster here;
    `read_file` then says what is wrong with it."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return True
    try:
        if suffix == ".csv":
            with path.open(encoding="utf-8-sig", newline="") as handle:
                header = [h.strip() for h in next(csv.reader(handle), [])]
            return bool(header) and kind_of(path.stem, header) is None and not _is_events(header)
        if suffix == ".xlsx":
            import openpyxl

            check_inflation(path, limits or ImportLimits())
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
            try:
                for sheet in book.worksheets:
                    _read_whole(sheet)
                    first = next(sheet.iter_rows(max_row=1, values_only=True), None)
                    if first is None:
                        continue
                    header = [str(h).strip() if h is not None else "" for h in first]
                    events = sheet.title.strip().lower() == "events" or _is_events(header)
                    return kind_of(sheet.title, header) is None and not events
            finally:
                book.close()
    except Exception:  # unreadable: read_file reports it with the reason
        return False
    return False


def read_roster_file(path: Path) -> tuple[Roster, list[RecordOutcome]]:
    """A roster file's records and its problems (for check-config, no database)."""
    loaded = read_file(path)
    if loaded.kind != "roster":
        raise SourceError(str(path), 0, "not a roster file")
    from monitor.ingest.roster import check_references

    roster, problems = check_references(loaded.roster)
    return roster, loaded.problems + problems
