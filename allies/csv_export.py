"""CSV downloads for staff: formula-safe cells, UTF-8 with a BOM, streamed row by row.

Every CSV the app serves goes through here, so each one is safe to open in a spreadsheet: a cell
that starts like a formula is neutralised (OWASP "CSV injection"), and the byte order mark makes
Excel read the file as UTF-8 (without it, "Asociación" arrives as "AsociaciÃ³n"). Rows are
written one at a time from an iterator, so a large export never sits in memory whole.
"""

import csv
import io
from collections.abc import Iterable, Iterator

from flask import Response, stream_with_context

# Excel reads a CSV as UTF-8 only when it starts with this.
BOM = "\ufeff"
# A cell starting with one of these is run as a formula by Excel, LibreOffice or Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """``value`` as a cell: None is empty; text that would start a formula gets a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


def csv_lines(header: Iterable, rows: Iterable[Iterable], *, bom: bool = True) -> Iterator[str]:
    """The CSV text of ``header`` then ``rows``, one line at a time, every cell through csv_cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([csv_cell(cell) for cell in cells])
        return buffer.getvalue()

    yield (BOM if bom else "") + line(header)
    for row in rows:
        yield line(row)


def csv_response(header: Iterable, rows: Iterable[Iterable], filename: str) -> Response:
    """A streamed CSV download named ``filename`` (rows are read while the response is sent)."""
    return Response(
        stream_with_context(csv_lines(header, rows)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
