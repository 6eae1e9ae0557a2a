"""ui.html_table: a short table drawn as HTML, every value escaped, a missing
value the grey dash, figures on the right, links, shares and trends."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.shown_tables import read_tables, svg_of
from ui.html_table import FALLING, RISING, Column, Link, table_html

COLUMNS = {
    "Bucket": Column("link"),
    "Records": Column("number", help="The **latest** snapshot's records."),
    "Share": Column("share"),
    "Trend": Column("trend"),
    "Change": Column(align="right"),
}


def _shown(frame: pd.DataFrame) -> str:
    return table_html("t", frame, COLUMNS)


def _frame(**columns: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "Client": ["Acme"], "Bucket": [Link("acme", "client?bucket=acme")],
        "Records": [1234567], "Share": [42.25], "Trend": [[1, 3, 2]], "Change": ["+5"],
    }  # fmt: skip
    return pd.DataFrame({**base, **columns})


def test_values_are_shown_in_their_kind() -> None:
    (table,) = read_tables(_shown(_frame())).values()
    assert table.headers == ["Client", "Bucket", "Records", "Share", "Trend", "Change"]
    assert table.frame().iloc[0].tolist() == ["Acme", "acme", "1,234,567", "42.2%", "", "+5"]
    row = table.rows[0]
    assert row[1].href == "client?bucket=acme"
    assert row[2].classes == ("right",)  # figures on the right
    assert row[5].classes == ("right",)
    assert row[0].classes == ()
    assert 'style="width:42.2%"' in _shown(_frame())
    assert table.helps == {"Records": "The latest snapshot's records."}  # no markdown


@pytest.mark.parametrize(
    ("values", "colour"),
    [([1, 3, 2], RISING), ([5, 5], RISING), ([5, 9, 4], FALLING)],
)
def test_a_trend_is_green_when_it_ends_at_or_above_its_start(
    values: list[int], colour: str
) -> None:
    (table,) = read_tables(_shown(_frame(Trend=[values]))).values()
    cell = table.rows[0][4]
    assert f'stroke="{colour}"' in svg_of(cell)
    assert cell.alt == f"from {values[0]} to {values[-1]}"


def test_the_trend_spans_the_cell_from_its_lowest_to_its_highest_point() -> None:
    (table,) = read_tables(_shown(_frame(Trend=[[10, 20, 15]]))).values()
    svg = svg_of(table.rows[0][4])
    assert 'points="0.0,23.0 50.0,1.0 100.0,12.0"' in svg  # 24 px high, a pixel of margin


@pytest.mark.parametrize("missing", [None, float("nan")])
def test_missing_values_are_the_grey_dash(missing: object) -> None:
    frame = _frame(Records=[missing], Share=[missing], Trend=[[missing, 4]], Change=[missing])
    (table,) = read_tables(_shown(frame)).values()
    row = table.rows[0]
    for index in (2, 3, 4, 5):  # a trend of one point is no trend
        assert (row[index].text, row[index].grey) == ("—", True), table.headers[index]


def test_a_share_above_its_limit_fills_the_bar_and_says_how_much() -> None:
    shown = _shown(_frame(Share=[125.0]))
    (table,) = read_tables(shown).values()
    assert table.rows[0][3].text == "125.0%"
    assert 'style="width:100.0%"' in shown


def test_values_are_text_never_markup() -> None:
    hostile = '<img src=x onerror="alert(1)">'
    shown = _shown(_frame(Client=[hostile], Bucket=[Link('a"b', 'client?bucket=a"b')]))
    (table,) = read_tables(shown).values()
    assert table.rows[0][0].text == hostile
    assert "<img src=x" not in shown
    assert table.rows[0][1].href == 'client?bucket=a"b'  # the quote escaped, not closing
    assert 'href="client?bucket=a&quot;b"' in shown


def test_a_wrapped_column_wraps_its_long_text_and_the_others_do_not() -> None:
    frame = pd.DataFrame({"Email": ["ann@example.com"], "Book": [", ".join(["acme"] * 200)]})
    (table,) = read_tables(table_html("t", frame, {"Book": Column(wrap=True)})).values()
    assert [cell.classes for cell in table.rows[0]] == [(), ("wrap",)]


def test_a_number_with_decimals_keeps_them() -> None:
    frame = pd.DataFrame({"Took (s)": [1234.5, 0.126, None]})
    columns = {"Took (s)": Column("number", digits=2)}
    (shown,) = read_tables(table_html("t", frame, columns)).values()
    assert [cell.text for cell in shown.column("Took (s)")] == ["1,234.50", "0.13", "—"]


def test_a_table_given_a_height_scrolls_inside_it_and_one_without_does_not() -> None:
    (tall,) = read_tables(table_html("t", _frame(), COLUMNS, height=700)).values()
    assert tall.most_height == 700
    (short,) = read_tables(_shown(_frame())).values()
    assert short.most_height is None


def test_a_column_of_tooltips_is_not_drawn_and_each_cell_shows_its_own() -> None:
    frame = pd.DataFrame({
        "At": ["2026-12-03 09:17 CET", "2026-12-02 23:00 CET", "—"],
        "At (UTC)": ["2026-12-03T08:17:47Z", '"quoted" <b>', None],
        "Actor": ["ann", "bob", "cat"],
    })  # fmt: skip
    columns = {"At": Column(hover="At (UTC)")}
    shown = table_html("t", frame, columns)
    (table,) = read_tables(shown).values()
    assert table.headers == ["At", "Actor"]
    assert [cell.text for cell in table.column("At")] == frame["At"].tolist()
    # Escaped as any value; none on the grey dash of a missing moment.
    assert [cell.title for cell in table.column("At")] == [
        "2026-12-03T08:17:47Z", '"quoted" <b>', None]  # fmt: skip
    assert "<b>" not in shown
    assert all(cell.title is None for cell in table.column("Actor"))
