"""The dashboard's door: who is looking, resolved once per run.

With ``[auth]`` in ``.streamlit/secrets.toml`` every page needs sign-in
(``st.login``); the claims Streamlit keeps become a principal through
``usage.signin`` and ``usage.people``, the rules the API applies to the same
session cookie. Without ``[auth]`` the one person at the machine is
``LOCAL_ADMIN``, and every page says that sign-in is off when the server can
be reached from the network.
"""

from __future__ import annotations

import datetime as dt
from contextvars import ContextVar
from typing import Any

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ui.engine import get_engine, shown_errors
from ui.format import md_text
from usage.access import LOCAL_ADMIN, Principal
from usage.audit import Action, Actor, record_once
from usage.errors import ConfigError
from usage.people import person_principal
from usage.serving import reachable_from_network
from usage.signin import SIGN_IN_OFF, SignInRefused, SignInSettings, admit, identify, parse_settings

PRODUCT = "Usage analytics"
# How long a page trusts a person's role and book: removals, role changes and
# unassignments show within this plus the watch's interval.
PRINCIPAL_TTL_SECONDS = 2
WATCH_SECONDS = 2.5
_SIGNED_IN = "_signed_in_as"  # (identity, iat) whose sign-in this session recorded
_REFUSED = "_refused_as"  # (who, detail) whose refusal this session recorded

_viewer: ContextVar[Principal | None] = ContextVar("viewer", default=None)


def load_sign_in_settings() -> SignInSettings:
    """``[auth]`` and ``[access]`` from Streamlit's secrets (sign-in off
    without a secrets file or an ``[auth]`` section)."""
    try:
        if not st.secrets.load_if_toml_exists():
            return SIGN_IN_OFF
        return parse_settings(st.secrets.to_dict())
    except RecursionError:  # Streamlit's TOML parser on a hostile file
        raise ConfigError("secrets.toml is not valid TOML: nested too deeply") from None


@st.cache_data(ttl=PRINCIPAL_TTL_SECONDS, show_spinner=False)
def load_person(_engine: Engine, identity: str) -> Principal | None:
    with Session(_engine) as session:
        return person_principal(session, identity)


def viewer() -> Principal:
    """The principal the current page runs for (set by ``resolve_viewer``)."""
    principal = _viewer.get()
    if principal is None:  # a page outside the app's frame: nothing is visible
        raise RuntimeError("no viewer: pages run inside ui.nav.run_app")
    return principal


def set_viewer(principal: Principal | None) -> Any:
    return _viewer.set(principal)


def reset_viewer(token: Any) -> None:
    _viewer.reset(token)


def client_address() -> str:
    """The viewer's IP address, for the audit trail ("" where unknown)."""
    address = st.context.ip_address
    return address if isinstance(address, str) else ""


def _claims() -> dict[str, Any]:
    return dict(st.user.to_dict())


def _provider_label(name: str) -> str:
    return name.replace("_", " ").title()


def _sign_in_buttons(settings: SignInSettings) -> None:
    if not settings.providers:
        if st.button("Sign in", type="primary", key="sign_in", icon=":material/login:"):
            st.login()
        return
    for name in settings.providers:
        label = f"Sign in with {_provider_label(name)}"
        if st.button(label, type="primary", key=f"sign_in_{name}", icon=":material/login:"):
            st.login(name)


def _door(message: str | None, settings: SignInSettings, signed_in: bool) -> None:
    """The only page a person who is not let in sees: the product's name,
    why, and the way in (or out)."""
    st.title(PRODUCT)
    if message:
        st.warning(md_text(message), icon=":material/lock:")
    if signed_in:
        # A callback: the sign-out runs at once, before the page (which a
        # rerun could cut short), not after it.
        st.button("Sign out", key="sign_out_door", icon=":material/logout:", on_click=st.logout)
    else:
        st.caption("Sign in to see your clients' usage.")
        _sign_in_buttons(settings)


def _record_refusal(engine: Engine, who: str, reason: str) -> None:
    """Once per session and token (the door reruns on every click)."""
    detail = f"{reason}; iat {st.user.get('iat', '')}"
    if st.session_state.get(_REFUSED) == (who, detail):
        return
    with Session(engine) as session, session.begin():
        record_once(session, Actor(who, client_address()), Action.SIGN_IN_REFUSED, who, detail)
    st.session_state[_REFUSED] = (who, detail)


def _record_sign_in(engine: Engine, principal: Principal, claims: dict[str, Any]) -> None:
    signed = (principal.name, claims.get("iat"))
    if st.session_state.get(_SIGNED_IN) == signed:
        return
    provider = claims.get("provider") or "default"
    with Session(engine) as session, session.begin():
        record_once(
            session,
            Actor(principal.name, client_address()),
            Action.SIGN_IN,
            principal.name,
            f"provider {provider}; role {principal.role.value}; iat {claims.get('iat')}",
        )
    st.session_state[_SIGNED_IN] = signed


def resolve_viewer(settings: SignInSettings) -> Principal | None:
    """The principal of this run, or None after drawing the door (signed
    out, refused, or not a person of this dashboard)."""
    if not settings.enabled:
        return LOCAL_ADMIN
    engine = get_engine()
    if not st.user.is_logged_in:
        _door(None, settings, signed_in=False)
        return None
    claims = _claims()
    try:
        identity = identify(claims, settings, dt.datetime.now(dt.UTC))
    except SignInRefused as refused:
        who = str(claims.get(settings.identity_claim) or claims.get("sub") or "unknown").lower()
        _record_refusal(engine, who, refused.message)
        _door(f"Sign-in refused: {refused.message}.", settings, signed_in=True)
        return None
    principal = load_person(engine, identity)
    if principal is None:
        with Session(engine) as session, session.begin():
            principal = admit(session, identity, claims, settings, client_address())
    if principal is None:
        _record_refusal(engine, identity, "not a person of this dashboard")
        _door(
            f"You are signed in as {identity}, but this dashboard does not know you yet: "
            "ask an admin to add you.",
            settings,
            signed_in=True,
        )
        return None
    _record_sign_in(engine, principal, claims)
    return principal


def draw_identity(principal: Principal, settings: SignInSettings) -> None:
    """The sidebar's account block: who is signed in, and the way out."""
    if not settings.enabled:
        st.caption(
            "Sign-in is off: anyone who can reach this server sees every client."
            if reachable_from_network()
            else "Sign-in is off: this server answers this machine only."
        )
        return
    name = st.user.get("name")
    shown = f"**{md_text(str(name))}**  \n{md_text(principal.name)}" if name else principal.name
    st.markdown(f"{shown}  \n:gray[{principal.role.value}]")
    # A callback: the sign-out runs at once, before the page, not after it.
    st.button("Sign out", key="sign_out", icon=":material/logout:", width="stretch",
              on_click=st.logout)  # fmt: skip
    _watch(get_engine(), principal, settings)


@st.fragment(run_every=WATCH_SECONDS)
def _watch(engine: Engine, principal: Principal, settings: SignInSettings) -> None:
    """Reruns the page as soon as the person's role or book changed, they
    were removed or their sign-in expired, so an open page does not keep
    showing what they may no longer see. It reruns alone, outside the page's
    frame (``run_page``): a database gone meanwhile is said here too."""
    try:
        identify(_claims(), settings, dt.datetime.now(dt.UTC))
    except SignInRefused:
        st.rerun(scope="app")
    with shown_errors():
        if load_person(engine, principal.name) != principal:
            st.rerun(scope="app")


def draw_exposure_notice(settings: SignInSettings) -> None:
    """Every page's warning while sign-in is off and the network can reach in."""
    if not settings.enabled and reachable_from_network():
        st.warning(
            "Sign-in is off: anyone who can reach this server sees every client and may run "
            "collection. Configure `[auth]` in `.streamlit/secrets.toml` (see the README).",
            icon=":material/lock_open:",
        )
