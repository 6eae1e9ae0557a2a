"""The HTML tables a page drew (``ui.html_table``), read back as a person
sees them: each cell's text, and its link, image or grey placeholder; and its
rows of counts (``ui.counts``), each label with its number."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pandas as pd
from streamlit.testing.v1 import AppTest

from ui.counts import COUNTS_CLASS


@dataclass
class Cell:
    text: str = ""
    href: str | None = None
    image: str | None = None  # an image's src
    alt: str | None = None
    classes: tuple[str, ...] = ()
    title: str | None = None  # the cell's tooltip

    @property
    def grey(self) -> bool:
        """Shown as the grey placeholder."""
        return "none" in self.classes


@dataclass
class ShownTable:
    name: str
    headers: list[str] = field(default_factory=list)
    helps: dict[str, str] = field(default_factory=dict)  # a header's tooltip
    rows: list[list[Cell]] = field(default_factory=list)
    most_height: int | None = None  # pixels: taller, it scrolls inside its frame

    def frame(self) -> Any:  # a DataFrame; looked into as freely as AppTest's tables
        """The cells' texts, by header."""
        return pd.DataFrame([[cell.text for cell in row] for row in self.rows],
                            columns=self.headers)  # fmt: skip

    def column(self, header: str) -> list[Cell]:
        index = self.headers.index(header)
        return [row[index] for row in self.rows]


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[ShownTable] = []
        self._table: ShownTable | None = None
        self._header: list[str] | None = None  # the open header: [text, tooltip]
        self._cell: Cell | None = None
        self._frame_height: int | None = None  # of the table's frame, read before it

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "div" and "usage-table-frame" in found.get("class", "").split():
            height = re.fullmatch(r"max-height:(\d+)px", found.get("style", ""))
            scrolls = "scroll" in found["class"].split()
            self._frame_height = int(height.group(1)) if height and scrolls else None
        elif tag == "table" and "data-table" in found:
            self._table = ShownTable(found["data-table"], most_height=self._frame_height)
            self.tables.append(self._table)
        elif self._table is None:
            return
        elif tag == "tr" and self._header is None and self._table.headers:
            self._table.rows.append([])
        elif tag == "th":
            self._header = ["", found.get("title", "")]
        elif tag == "td":
            self._cell = Cell(classes=tuple(found.get("class", "").split()),
                              title=found.get("title"))  # fmt: skip
        elif self._cell is not None and tag == "a":
            self._cell.href = found.get("href")
        elif self._cell is not None and tag == "img":
            self._cell.image, self._cell.alt = found.get("src"), found.get("alt")

    def handle_endtag(self, tag: str) -> None:
        if self._table is None:
            return
        if tag == "table":
            self._table = None
        elif tag == "th" and self._header is not None:
            text, tooltip = self._header
            self._table.headers.append(text.strip())
            if tooltip:
                self._table.helps[text.strip()] = tooltip
            self._header = None
        elif tag == "td" and self._cell is not None:
            self._cell.text = self._cell.text.strip()
            self._table.rows[-1].append(self._cell)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._header is not None:
            self._header[0] += data
        elif self._cell is not None:
            self._cell.text += data


def read_tables(body: str) -> dict[str, ShownTable]:
    reader = _Reader()
    reader.feed(body)
    reader.close()
    return {table.name: table for table in reader.tables}


def shown_tables(at: AppTest) -> dict[str, ShownTable]:
    """Every HTML table the page drew, by its ``data-table`` name."""
    tables: dict[str, ShownTable] = {}
    for element in at.get("html"):
        tables.update(read_tables(element.proto.body))
    return tables


def svg_of(cell: Cell) -> str:
    """The SVG of a cell's ``data:`` image."""
    assert cell.image is not None, cell
    prefix = "data:image/svg+xml;base64,"
    assert cell.image.startswith(prefix)
    return base64.b64decode(cell.image.removeprefix(prefix)).decode()


class _CountsReader(HTMLParser):
    """The terms and values of a ``ui.counts`` list, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: list[tuple[str, str]] = []
        self._inside = False
        self._open: str | None = None  # "dt" or "dd" while one is open

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "dl" and COUNTS_CLASS in found.get("class", "").split():
            self._inside = True
        elif self._inside and tag in ("dt", "dd"):
            self._open = tag
            if tag == "dt":
                self.counts.append(("", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "dl":
            self._inside = False
        elif tag == self._open:
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None and self.counts:
            term, value = self.counts[-1]
            self.counts[-1] = (term + data, value) if self._open == "dt" else (term, value + data)


def shown_counts(at: AppTest) -> list[tuple[str, str]]:
    """Each count of the rows of counts the page drew (``ui.counts``): its
    label and its number as shown, in order."""
    return [count for element in at.get("html") for count in read_counts(element.proto.body)]


def read_counts(body: str) -> list[tuple[str, str]]:
    """The counts of the rows of counts (``ui.counts``) in an HTML element's body."""
    reader = _CountsReader()
    reader.feed(body)
    reader.close()
    return reader.counts
