"""People (``/people``, admins only): who may sign in, their roles and books.

Every change goes through ``usage.people``, as ``python -m usage users``
does, and is recorded in the audit trail with the admin's email and address.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

from ui.access import client_address, load_person, viewer
from ui.data import load_client_choices, run_page
from ui.engine import get_engine
from ui.folded import draw_folded
from ui.format import first_of, local_time, md_message, md_text, viewer_zone
from ui.html_table import MOST_HEIGHT, Column, html_table
from ui.params import publish
from ui.picker import book_input, book_keys
from usage import people
from usage.audit import Actor
from usage.errors import UsageError
from usage.models import Role
from usage.portfolio import ClientChoice

PAGE = "people"
_DONE = "people_done"  # the last change's message, shown after the rerun
ADD_OPEN = "people_add_open"  # the "Add a person" section is open
_ADD_BOOK = "people_add_book"
_ADD_BOOK_SELECT, _ADD_BOOK_TEXT = book_keys(_ADD_BOOK)
ADD_ROLES = [role.value for role in reversed(Role)]  # the least rights first, and chosen
# The Add form's widgets: kept when the form is refused, set again to these
# once a person is added, the section kept open for the next (the first one
# added would fold it).
_ADD_EMPTY: dict[str, object] = {
    "people_add_email": "",
    "people_add_role": ADD_ROLES[0],
    _ADD_BOOK_SELECT: [],
    _ADD_BOOK_TEXT: "",
    ADD_OPEN: True,
}
_RESET = "people_reset"  # the widgets to set before the next run draws them
ROLE_HELP = (
    "admin: every client, collection, people and audit; analyst: reads every client; "
    "manager: reads the clients of their book only."
)


def _actor() -> Actor:
    return Actor(viewer().actor, client_address())


def _change(
    done: str, work: Callable[[Session], object], reset: Mapping[str, object] | None = None
) -> None:
    """Run one change in one transaction; its error is shown, naming the field,
    and the form keeps what was typed. Once done, the widgets ``reset`` names
    start again from its values."""
    try:
        with Session(get_engine()) as session, session.begin():
            work(session)
    except UsageError as error:
        st.error(md_message(error.message), icon=":material/warning:")
        return
    st.session_state[_DONE] = done
    # Set by the next run, before its widgets are drawn: a value set through
    # the session state reaches the browser's widget too. (Popping the keys
    # reset them on the server only: the browser kept what was typed.)
    st.session_state[_RESET] = dict(reset or {})
    load_person.clear()  # the person's rights show at once, here and on their pages
    st.rerun()


def _reset_widgets() -> None:
    for key, value in st.session_state.pop(_RESET, {}).items():
        st.session_state[key] = value


# HTML, not the data grid (``ui.html_table``): a list of people needs none of
# the grid's code; a long one scrolls inside the table. A long book shows its
# first clients, all of them on hover, and the times are the viewer's, UTC on
# hover: the table fits the page's width.
BOOK_SHOWN = 8
COLUMNS = {
    "Book": Column(wrap=True, hover="Book in full",
                   help=f"Past {BOOK_SHOWN} clients, the first {BOOK_SHOWN}: all on hover."),
    "Clients in book": Column("number"),
    "Added": Column(help="In your browser's time zone; UTC on hover.", hover="Added (UTC)"),
}  # fmt: skip


def _table(rows: list[people.PersonInfo], zone: dt.tzinfo) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Email": [row.email for row in rows],
            "Role": [row.role.value for row in rows],
            "Book": [first_of(row.book, BOOK_SHOWN) if row.book else "—" for row in rows],
            "Book in full": [
                ", ".join(row.book) if len(row.book) > BOOK_SHOWN else None for row in rows
            ],
            "Clients in book": [len(row.book) for row in rows],
            "Added": [local_time(row.created_at, zone) for row in rows],
            "Added (UTC)": [local_time(row.created_at, dt.UTC) for row in rows],
        }
    )


def _add_form(choices: list[ClientChoice]) -> None:
    with st.form("people_add", border=False):
        left, middle = st.columns([2, 1])
        email = left.text_input("Email", key="people_add_email", placeholder="ann@example.com")
        role = middle.selectbox(
            # No default index: the session state sets the role after an add.
            "Role",
            ADD_ROLES,
            key="people_add_role",
            help=ROLE_HELP,
        )
        book = book_input(choices, _ADD_BOOK, "Book (clients they manage)")
        if st.form_submit_button("Add", type="primary"):
            _change(
                f"{email.strip().lower()} added.",
                lambda session: people.add_person(session, email, Role(role), book, actor=_actor()),
                reset=_ADD_EMPTY,
            )


def _edit(row: people.PersonInfo, choices: list[ClientChoice]) -> None:
    me = row.email == viewer().name
    with st.form(f"people_edit_{row.email}", border=True):
        st.markdown(f"**{md_text(row.email)}**")
        role = st.selectbox(
            "Role",
            [role.value for role in Role],
            index=list(Role).index(row.role),
            key=f"people_role_{row.email}",
            disabled=me,
            help="You cannot change your own role." if me else ROLE_HELP,
        )
        book = book_input(choices, f"people_book_{row.email}", "Book", row.book)
        if st.form_submit_button("Save", type="primary"):

            def save(session: Session) -> None:
                actor = _actor()
                if not me:
                    people.set_role(session, row.email, Role(role), actor=actor)
                people.assign(session, row.email, book, actor=actor)
                gone = sorted(set(row.book) - set(book))
                people.unassign(session, row.email, gone, actor=actor)

            _change(f"{row.email} saved.", save)
    if me:
        return
    confirm = st.checkbox(f"Yes, remove {row.email}", key=f"people_confirm_{row.email}")
    if st.button("Remove", key=f"people_remove_{row.email}", disabled=not confirm):
        _change(
            f"{row.email} removed.",
            lambda session: people.remove_person(session, row.email, actor=_actor()),
        )


def render() -> None:
    st.title("People")
    publish(PAGE, {})
    if not viewer().is_admin:  # not a route for others; refused here all the same
        st.error("Managing people needs an admin.", icon=":material/lock:")
        return
    st.caption(
        "Who may sign in, and what they see. " + ROLE_HELP + " Changes reach a signed-in "
        "person within seconds."
    )
    _reset_widgets()
    done = st.session_state.pop(_DONE, None)
    if done:
        st.success(md_text(done), icon=":material/check:")
    engine = get_engine()
    with Session(engine) as session:
        rows = people.list_people(session)
    if rows:
        html_table("people", _table(rows, viewer_zone()), COLUMNS, height=MOST_HEIGHT)
    else:
        st.info("Nobody has been added yet.", icon=":material/info:")
    # The forms are drawn once asked for; adding opens by itself on an empty list.
    draw_folded("Add a person", ADD_OPEN, ":material/person_add:",
                lambda: _add_form(load_client_choices(engine, viewer().visible)),
                expanded=not rows)  # fmt: skip
    if rows:
        st.subheader("Change a person")
        chosen = st.selectbox(
            "Person",
            [row.email for row in rows],
            index=None,
            key="people_chosen",
            placeholder="Choose whom to change",
        )
        if chosen is not None:
            choices = load_client_choices(engine, viewer().visible)
            _edit(next(row for row in rows if row.email == chosen), choices)


run_page(render)
