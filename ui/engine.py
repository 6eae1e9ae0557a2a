"""The pages' engine, and the errors of the store and the settings shown as
messages instead of tracebacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ui.format import md_message
from usage.errors import ConfigError
from usage.runtime import server_engine


@st.cache_resource(show_spinner=False)
def get_engine() -> Engine:
    return server_engine()


def _first_line(error: Exception) -> str:
    detail = getattr(error, "orig", None) or error
    lines = str(detail).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _unreachable(error: Exception) -> bool:
    if isinstance(error, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


@contextmanager
def shown_errors() -> Iterator[None]:
    """A wrong setting (the database URL, sign-in) or a database that cannot
    be reached becomes a clear message; any other error goes on."""
    try:
        yield
    except ConfigError as error:
        st.error(f"A setting is wrong: {md_message(str(error))}", icon=":material/warning:")
    except (DBAPIError, PoolTimeout) as error:
        if not _unreachable(error):
            raise
        st.error(
            "The usage database cannot be reached, so there is nothing to show right now. "
            "Try again in a minute; if this persists, check that the database is running "
            "and that USAGE\\_DATABASE\\_URL points at it.",
            icon=":material/warning:",
        )
        st.text(_first_line(error))
