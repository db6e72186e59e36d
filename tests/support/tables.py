"""Reading the tables the legacy CLIs print (tabulate's plain format) back into cells: pure, for
the live tests of the CLIs and for the unit tests of this reading alike."""

from __future__ import annotations

import re
from collections.abc import Sequence


def table_rows(lines: Sequence[str]) -> list[dict[str, str]]:
    """The rows of a table both CLIs print (tabulate's plain format), by column name.

    A column is where some line has text: columns are parted by two or more blanks in every
    line, a cell's own words by one. A header's offset is not always where its column starts:
    tabulate right-aligns a column whose every cell reads as a number, header included, and a
    uuid's first eight hex digits can be all digits (`03820155`) or read as a float (`1e51c0d2`),
    which moved the `UUID` header four places right of its cells."""
    header, *body = lines
    width = max(map(len, lines))
    text = "".join(
        "x" if any(i < len(line) and line[i] != " " for line in lines) else " "
        for i in range(width)
    )
    spans = [m.span() for m in re.finditer(r"x+(?: x+)*", text)]
    return [{header[a:b].strip(): line[a:b].strip() for a, b in spans} for line in body]
