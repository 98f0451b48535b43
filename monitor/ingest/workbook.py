"""Opening an XLSX workbook without letting it exhaust memory.

An XLSX file is a zip of XML. A few megabytes can inflate to gigabytes (repeated cells compress
about a thousand to one), and openpyxl, even in read-only mode, inflates the shared strings
whole and hands out rows as fast as we keep them. So before openpyxl sees the file, the zip's
declared sizes and then its actual inflated sizes (counted while streaming, never held) are held
to `ImportLimits.max_xlsx_inflated_bytes`; rows are then read in read-only streaming mode and
their number is held to `max_rows`.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from monitor.yamlsource import SourceError

MIB = 1024 * 1024


@dataclass(frozen=True)
class ImportLimits:
    """What one imported file may inflate to and hold (config: `ingest.*`)."""

    max_xlsx_inflated_bytes: int = 64 * MIB
    max_rows: int = 200_000


def _figure(size: int) -> str:
    return f"{size / MIB:.0f} MiB" if size >= MIB else f"{size:,} bytes"


def _too_big(path: Path, size: str, limits: ImportLimits) -> SourceError:
    return SourceError(
        str(path),
        0,
        f"the workbook inflates to {size}, more than the import limit of "
        f"{_figure(limits.max_xlsx_inflated_bytes)} (ingest.max_xlsx_inflated_bytes); "
        "split it or raise the limit",
    )


def check_inflation(path: Path, limits: ImportLimits) -> None:
    """Refuse a workbook whose parts inflate beyond the limit, declared or actual; SourceError."""
    limit = limits.max_xlsx_inflated_bytes
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            declared = sum(member.file_size for member in members)
            if declared > limit:
                raise _too_big(path, f"{_figure(declared)} (as declared)", limits)
            # the declared sizes are the file's own claim: count what really comes out, in
            # chunks, and stop at the limit (zipfile also refuses a part whose CRC is wrong)
            inflated = 0
            for member in members:
                with archive.open(member) as stream:
                    while chunk := stream.read(MIB):
                        inflated += len(chunk)
                        if inflated > limit:
                            raise _too_big(path, f"more than {_figure(limit)}", limits)
    except SourceError:
        raise
    except Exception as exc:  # zipfile and zlib raise many kinds for a damaged archive
        raise SourceError(str(path), 0, f"not a readable XLSX workbook: {exc}") from None


def too_many_rows(path: Path, limits: ImportLimits) -> SourceError:
    """The rejection of a file (a workbook, CSV or JSON Lines) with more rows than an import may hold."""
    return SourceError(
        str(path),
        0,
        f"more than {limits.max_rows:,} rows, the import limit (ingest.max_import_rows); split the file",
    )
