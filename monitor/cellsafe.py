"""Text that spreadsheets must show as text, never run as a formula (OWASP "CSV injection").

A unit or person named `=HYPERLINK(...)`, `+1+1`, `-2+3` or `@SUM(...)` — or starting with a tab
or CR, which Excel skips before looking for a formula — would be live in a report an official
opens in Excel. In XLSX we store every text cell with the string data type, so openpyxl never
writes a formula; in CSV, which has no types, such a cell gets OWASP's leading single quote.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A CSV cell's value, with a leading quote when a spreadsheet would read it as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_row(values: Iterable[object]) -> list[object]:
    """Every cell of a CSV row made safe."""
    return [csv_cell(v) for v in values]


def text_cells_as_text(sheet: Any) -> None:
    """Mark every text cell of an openpyxl sheet as a string (data type `s`): openpyxl otherwise
    takes a value starting with `=` for a formula and writes it as one."""
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"
