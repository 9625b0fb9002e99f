"""HTML as text a model reads: tables become Markdown tables, the rest plain text with
its headings, list items and line breaks kept; scripts and styles are left out.

Standard library only (html.parser). Made for what kernels display (a DataFrame's
table, a Styler, an R data.frame, a library's summary), not for whole web pages: the
HTML itself is kept beside the text for anything richer.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_HIDDEN = {"script", "style", "head", "template", "noscript"}
_BLOCKS = {
    "p", "div", "section", "article", "header", "footer", "ul", "ol", "dl", "dt", "dd",
    "blockquote", "pre", "figure", "figcaption", "caption", "details", "summary", "hr",
}  # fmt: skip
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_SPACES = re.compile(r"[ \t\r\n\f\v\xa0]+")


def html_to_text(html: str) -> str:
    """The readable text of `html`, tables as Markdown; '' when it shows no text."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.text()


class _Table:
    """Rows of (text, is_header) cells, with row and column spans filled in."""

    def __init__(self) -> None:
        self.rows: list[list[tuple[str, bool]]] = []
        self.header_rows: set[int] = set()
        self._carried: dict[int, tuple[str, bool, int]] = {}  # column → (text, header, rows left)
        self.in_head = False

    def start_row(self) -> None:
        self.rows.append([])
        if self.in_head:
            self.header_rows.add(len(self.rows) - 1)
        self._fill_carried()

    def add_cell(self, text: str, header: bool, colspan: int, rowspan: int) -> None:
        if not self.rows:
            self.start_row()
        row = self.rows[-1]
        for _ in range(max(colspan, 1)):
            column = len(row)
            if rowspan > 1:
                self._carried[column] = (text, header, rowspan - 1)
            row.append((text, header))
            self._fill_carried()

    def _fill_carried(self) -> None:
        row = self.rows[-1]
        while (carried := self._carried.get(len(row))) is not None:
            text, header, left = carried
            if left <= 0 or len(self.rows) < 2:
                break
            row.append((text, header))
            if left == 1:
                del self._carried[len(row) - 1]
            else:
                self._carried[len(row) - 1] = (text, header, left - 1)

    def markdown(self) -> str:
        rows = [row for row in self.rows if row]
        if not rows:
            return ""
        width = max(len(row) for row in rows)
        header_count = 0
        for index, row in enumerate(self.rows):
            if not row:
                continue
            if index in self.header_rows or all(header for _, header in row):
                header_count += 1
            else:
                break
        header_count = min(header_count, len(rows))
        headers = rows[:header_count]
        body = rows[header_count:]
        titles = [
            " ".join(dict.fromkeys(t for r in headers if i < len(r) and (t := r[i][0])))
            for i in range(width)
        ]
        lines = [_row(titles, width), "|" + "---|" * width]
        lines.extend(_row([text for text, _ in row], width) for row in body)
        return "\n".join(lines)


def _row(cells: list[str], width: int) -> str:
    padded = [cell.replace("|", "\\|") for cell in cells] + [""] * (width - len(cells))
    return "| " + " | ".join(padded) + " |"


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._hidden = 0
        self._pre = 0
        self._tables: list[_Table] = []
        self._cell: list[str] | None = None
        self._cell_attrs: tuple[bool, int, int] = (False, 1, 1)

    # -- tags -----------------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag == "table":
            if self._tables and self._cell is not None:  # a table in a cell: its text only
                self._tables.append(_Table())
                return
            self._break(2)
            self._tables.append(_Table())
        elif tag in ("thead", "tbody", "tfoot") and self._tables:
            self._tables[-1].in_head = tag == "thead"
        elif tag == "tr" and self._tables and len(self._tables) == 1:
            self._tables[-1].start_row()
        elif tag in ("td", "th") and self._tables and len(self._tables) == 1:
            named = dict(attrs)
            self._cell = []
            spans = _span(named.get("colspan")), _span(named.get("rowspan"))
            self._cell_attrs = (tag == "th", *spans)
        elif tag == "br":
            self._write("\n")
        elif tag == "li":
            self._break(1)
            self._write("- ")
        elif tag in _HEADINGS:
            self._break(2)
            self._write("#" * _HEADINGS[tag] + " ")
        elif tag == "pre":
            self._pre += 1
            self._break(1)
            self._write("```\n")
        elif tag in _BLOCKS:
            self._break(1)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(self._hidden - 1, 0)
        elif tag == "table" and self._tables:
            table = self._tables.pop()
            if not self._tables:
                self._write(table.markdown())
                self._break(2)
        elif tag in ("td", "th") and self._cell is not None and len(self._tables) == 1:
            text = _SPACES.sub(" ", "".join(self._cell)).strip()
            header, colspan, rowspan = self._cell_attrs
            self._cell = None
            self._tables[-1].add_cell(text, header, colspan, rowspan)
        elif tag == "pre":
            self._pre = max(self._pre - 1, 0)
            self._break(1)
            self._write("```")
            self._break(1)
        elif tag in _HEADINGS or tag in _BLOCKS:
            self._break(1 if tag not in _HEADINGS else 2)

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        if self._cell is not None:
            self._cell.append(data)
        elif self._tables:
            return  # text between cells: whitespace or stray
        elif self._pre:
            self._out.append(data)
        else:
            self._write(_SPACES.sub(" ", data))

    # -- text -----------------------------------------------------------------------------

    def _write(self, text: str) -> None:
        if self._cell is not None:
            self._cell.append(text)
        elif text and not self._tables:
            self._out.append(text)

    def _break(self, lines: int) -> None:
        if self._cell is not None:
            self._cell.append(" ")
        elif not self._tables:
            self._out.append("\n" * lines)

    def text(self) -> str:
        lines = []
        fenced = False
        for line in "".join(self._out).split("\n"):
            if line.strip() == "```":
                fenced = not fenced
            lines.append(line.rstrip() if fenced else line.strip())
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _span(value: str | None) -> int:
    try:
        return min(max(int(value or 1), 1), 1000)
    except ValueError:
        return 1
