"""Readable tables for people (CJK characters count two columns wide), or JSON for scripts."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Mapping, Sequence


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def clip(text: str, limit: int) -> str:
    if width(text) <= limit:
        return text
    out = ""
    for ch in text:
        if width(out + ch) > limit - 1:
            break
        out += ch
    return out + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, max_width: int = 60) -> str:
    """A plain-text table with padded columns; long cells are clipped."""
    cells = [[clip(str(c if c is not None else "-"), max_width) for c in row] for row in rows]
    widths = [max([width(h)] + [width(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v + " " * (w - width(v)) for v, w in zip(values, widths, strict=True)).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out)


def listing(
    fmt: str,
    items: Sequence[Mapping[str, object]],
    columns: Sequence[str] | None = None,
    *,
    cells: Callable[[Mapping[str, object]], Sequence[object]] | None = None,
    max_width: int = 60,
) -> str:
    """What a list command prints: its items as JSON (`--format json`, the scripts' contract),
    or a table of `columns` (every key of the items when None), each row `cells(item)` or the
    columns' values."""
    if fmt == "json":
        return json.dumps(list(items), ensure_ascii=False, indent=2)
    headers = list(columns) if columns is not None else (list(items[0]) if items else ["id"])
    rows = [cells(i) if cells is not None else [i[c] for c in headers] for i in items]
    return table(headers, rows, max_width=max_width)
