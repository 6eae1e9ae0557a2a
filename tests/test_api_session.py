"""The Usage API with a signed-in browser's session cookie instead of a key:
who it is, what they see, what is refused, and the same-origin rule for POST."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

import usage.api
from tests.api_client import ApiClient
from tests.factories import add_days, day, new_client
from tests.session_cookies import (
    AUTH_SECTION,
    ORIGIN,
    cookie_header,
    cookie_value,
    id_token_claims,
    session_cookies,
    sign,
)
from tests.signin_support import TEST_ACTOR, add_people
from tests.test_api import is_error
from usage.api import KEY_CACHE_SECONDS, create_api_app
from usage.audit import Action, cli_actor, list_events
from usage.keys import create_key
from usage.models import Client, Person, Role
from usage.people import remove_person, set_role, unassign
from usage.signin import COOKIE_NAME, parse_settings

CLIENTS = "/api/v1/clients"
DAY_ONE = "/api/v1/snapshots/2024-01-01"
TRIGGER = "/api/v1/collect/trigger"
EVERY_CLIENT = ["acme-corp", "globex", "initech"]
INVALID = "invalid session cookie"
MISSING = (
    "missing credentials: send an API key in the X-API-Key header, or sign in to the"
    " dashboard in this browser"
)
CROSS_SITE = (
    "a POST signed in by the session cookie must come from this dashboard's own origin"
    " (its Origin header); scripts should send an X-API-Key instead"
)
HOUR = 3600


@pytest.fixture
def keys(engine: Engine) -> dict[str, str]:
    """Three clients, a person of each role, and two keys."""
    with Session(engine) as session, session.begin():
        add_days(session, new_client(session, "acme-corp"), [day(i) for i in range(5)])
        add_days(session, new_client(session, "globex", "trial"), [day(0), day(1)])
        add_days(session, new_client(session, "initech", "inactive"), [day(0)])
        made = {
            "admin": create_key(session, "admin", admin=True, actor=cli_actor()),
            "acme": create_key(session, "acme-only", buckets=["acme-corp"], actor=cli_actor()),
        }
    add_people(
        engine,
        {
            "admin@example.com": (Role.ADMIN, []),
            "analyst@example.com": (Role.ANALYST, []),
            "manager@example.com": (Role.MANAGER, ["acme-corp"]),
        },
    )
    return made


MakeApi = Callable[..., ApiClient]


@pytest.fixture
def make_api(engine: Engine, keys: dict[str, str]) -> Iterator[MakeApi]:
    """The API with sign-in on; keyword arguments are the [access] section."""
    made: list[ApiClient] = []

    def make(**access: Any) -> ApiClient:
        secrets = {"auth": AUTH_SECTION, **({"access": access} if access else {})}
        settings = parse_settings(secrets)
        made.append(ApiClient(create_api_app(lambda: engine, lambda: settings)))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def api(make_api: MakeApi) -> ApiClient:
    return make_api()


class Clock:
    """``usage.api``'s monotonic clock, moved on by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(usage.api, "time", clock)
    return clock


def signed_in(email: str, /, **claims: Any) -> dict[str, str]:
    """The ``Cookie`` header of a browser signed in as ``email``."""
    return {"Cookie": cookie_header(session_cookies(id_token_claims(email, **claims)))}


def bucket_ids(response: httpx.Response, field: str) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["bucket_id"] for item in response.json()[field]]


@pytest.mark.parametrize(
    ("email", "visible"),
    [
        ("admin@example.com", EVERY_CLIENT),
        ("analyst@example.com", EVERY_CLIENT),
        ("manager@example.com", ["acme-corp"]),
        ("MANAGER@Example.com", ["acme-corp"]),  # the claim is compared case-insensitively
    ],
)
def test_a_signed_in_person_sees_their_visible_clients(
    api: ApiClient, email: str, visible: list[str]
) -> None:
    cookie = signed_in(email)
    assert bucket_ids(api.get(CLIENTS, headers=cookie), "clients") == visible
    assert bucket_ids(api.get(DAY_ONE, headers=cookie), "snapshots") == visible
    history = api.get("/api/v1/clients/acme-corp/history", headers=cookie)
    assert history.status_code == 200
    assert history.json()["count"] == 5


@pytest.mark.parametrize("path", ["/api/v1/clients/{}", "/api/v1/clients/{}/history"])
def test_a_managers_other_client_is_answered_as_one_that_does_not_exist(
    api: ApiClient, engine: Engine, path: str
) -> None:
    headers = {**signed_in("manager@example.com"), "X-Request-ID": "same-request"}
    hidden = api.get(path.format("globex"), headers=headers)
    is_error(hidden, 404, "client 'globex' not found")
    with Session(engine) as session, session.begin():
        session.execute(delete(Client).where(Client.bucket_id == "globex"))
    gone = api.get(path.format("globex"), headers=headers)
    assert (gone.status_code, gone.content) == (hidden.status_code, hidden.content)
    assert gone.headers == hidden.headers
    assert api.get(path.format("acme-corp"), headers=headers).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Cookie": "theme=dark; _streamlit_xsrf=abc"}, {"Cookie": "_streamlit_user_tokens=x"}],
)
def test_no_key_and_no_session_is_401_naming_both_ways_in(
    api: ApiClient, headers: dict[str, str]
) -> None:
    for url in (CLIENTS, DAY_ONE, "/api/v1/clients/acme-corp/history"):
        is_error(api.get(url, headers=headers), 401, MISSING)
    is_error(api.request("POST", TRIGGER, headers={**headers, "Origin": ORIGIN}), 401, MISSING)


def test_a_cookie_means_nothing_to_a_server_without_sign_in(engine: Engine) -> None:
    """Sign-in off (no [auth]): only a key lets in, whatever cookie a browser
    kept from before."""
    api = ApiClient(create_api_app(lambda: engine))
    try:
        response = api.get(CLIENTS, headers=signed_in("admin@example.com"))
    finally:
        api.close()
    is_error(response, 401, "missing API key: send it in the X-API-Key header")


def _claims_swapped() -> dict[str, str]:
    """An analyst's cookie carrying the admin's claims: their payload, the
    analyst's own timestamp and signature."""
    analyst = session_cookies(id_token_claims("analyst@example.com"))[COOKIE_NAME]
    admin = session_cookies(id_token_claims("admin@example.com"))[COOKIE_NAME]
    payload = admin.rsplit(".", 2)[0]
    return {COOKIE_NAME: ".".join([payload, *analyst.rsplit(".", 2)[1:]])}


def _signature_altered() -> dict[str, str]:
    value = session_cookies(id_token_claims("admin@example.com"))[COOKIE_NAME]
    altered = value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB")
    return {COOKIE_NAME: altered}


def _chunks_signed_with_the_main_name() -> dict[str, str]:
    """Sound parts, each signed with the main cookie's name instead of its own."""
    value = cookie_value(id_token_claims("admin@example.com"))
    half = len(value) // 2
    return {
        COOKIE_NAME: sign("chunks-2"),
        f"{COOKIE_NAME}_1": sign(value[:half]),
        f"{COOKIE_NAME}_2": sign(value[half:]),
    }


def _without(cookies: dict[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in cookies.items() if key != name}


def _two_chunks(email: str) -> dict[str, str]:
    return session_cookies(id_token_claims(email), chunks=2)


REFUSED: list[tuple[str, Callable[[], dict[str, str]], str]] = [
    ("claims swapped", _claims_swapped, INVALID),
    ("signature altered", _signature_altered, INVALID),
    ("another secret",
     lambda: session_cookies(id_token_claims("admin@example.com"),
                             secret="another-deployment-secret-entirely"),
     INVALID),
    ("another origin",
     lambda: session_cookies(id_token_claims("admin@example.com"),
                             origin="http://other.example:8501"),
     INVALID),
    ("not a signed value", lambda: {COOKIE_NAME: "admin@example.com"}, INVALID),
    ("expired",
     lambda: session_cookies(id_token_claims("admin@example.com",
                                             iat=int(time.time()) - 13 * HOUR)),
     "your sign-in has expired; sign in again"),
    ("no issue time",
     lambda: session_cookies(id_token_claims("admin@example.com", iat=None)),
     "the sign-in has no issue time (iat); sign in again"),
    ("email not verified",
     lambda: session_cookies(id_token_claims("admin@example.com", email_verified=False)),
     "your identity provider says your email address is not verified"),
    ("no email",
     lambda: session_cookies(id_token_claims("admin@example.com", email=None)),
     "the sign-in did not give an email address in its 'email' claim"),
    ("unknown person",
     lambda: session_cookies(id_token_claims("stranger@example.com")),
     "stranger@example.com may not use this dashboard: ask an admin to add you"),
    ("a chunk missing",
     lambda: _without(_two_chunks("admin@example.com"), f"{COOKIE_NAME}_2"),
     INVALID),
    ("chunks without the main cookie",
     lambda: _without(_two_chunks("admin@example.com"), COOKIE_NAME),
     "missing session cookie"),
    ("chunks signed under another name", _chunks_signed_with_the_main_name, INVALID),
]  # fmt: skip


@pytest.mark.parametrize(
    ("cookies", "message"),
    [pytest.param(make, message, id=name) for name, make, message in REFUSED],
)
def test_a_refused_session_is_401_saying_why(
    api: ApiClient, cookies: Callable[[], dict[str, str]], message: str
) -> None:
    headers = {"Cookie": cookie_header(cookies())}
    for url in (CLIENTS, "/api/v1/clients/acme-corp", "/api/v1/clients/acme-corp/history"):
        is_error(api.get(url, headers=headers), 401, message)
    post = api.request("POST", TRIGGER, headers={**headers, "Origin": ORIGIN})
    is_error(post, 401, message)


def test_the_session_lasts_session_hours_from_the_sign_in(make_api: MakeApi) -> None:
    two_hours_ago = int(time.time()) - 2 * HOUR
    cookie = signed_in("admin@example.com", iat=two_hours_ago, exp=two_hours_ago + HOUR)
    assert make_api().get(CLIENTS, headers=cookie).status_code == 200  # default: 12 hours
    short = make_api(session_hours=1)
    is_error(short.get(CLIENTS, headers=cookie), 401, "your sign-in has expired; sign in again")


@pytest.mark.parametrize("chunks", [2, 3])
def test_a_cookie_in_chunks_is_one_session(api: ApiClient, chunks: int) -> None:
    cookies = session_cookies(id_token_claims("manager@example.com"), chunks=chunks)
    assert len(cookies) == chunks + 1
    headers = {"Cookie": cookie_header(cookies)}
    assert bucket_ids(api.get(CLIENTS, headers=headers), "clients") == ["acme-corp"]


def test_the_cookies_streamlit_itself_writes_are_read(api: ApiClient) -> None:
    """A person in many groups (as Entra ID tokens carry) gets a cookie too
    big for one: Streamlit's own writer splits it, and the API reads it."""
    from streamlit.auth_util import set_cookie_with_chunks
    from streamlit.web.server.starlette.starlette_app_utils import create_signed_value

    groups = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(200)]
    claims = id_token_claims("manager@example.com", groups=groups)
    user = {**claims, "origin": ORIGIN, "is_logged_in": True, "provider": "default"}
    cookies: dict[str, str] = {}

    def set_single_cookie(name: str, value: str) -> None:
        cookies[name] = create_signed_value(AUTH_SECTION["cookie_secret"], name, value).decode()

    set_cookie_with_chunks(
        set_single_cookie,
        lambda name, value: create_signed_value(AUTH_SECTION["cookie_secret"], name, value),
        COOKIE_NAME,
        user,
        cookie_attr_size=60,
    )
    assert len(cookies) >= 3  # the main cookie and two chunks or more
    headers = {"Cookie": cookie_header(cookies)}
    assert bucket_ids(api.get(CLIENTS, headers=headers), "clients") == ["acme-corp"]


def _remove(session: Session) -> None:
    remove_person(session, "manager@example.com", actor=TEST_ACTOR)


def _unassign(session: Session) -> None:
    unassign(session, "manager@example.com", ["acme-corp"], actor=TEST_ACTOR)


def _demote(session: Session) -> None:
    set_role(session, "manager@example.com", Role.MANAGER, actor=TEST_ACTOR)  # no change
    set_role(session, "analyst@example.com", Role.MANAGER, actor=TEST_ACTOR)


@pytest.mark.parametrize(
    ("email", "change", "status"),
    [
        ("manager@example.com", _remove, 401),
        ("manager@example.com", _unassign, 404),
        ("analyst@example.com", _demote, 404),
    ],
)
def test_a_change_to_a_person_takes_effect_within_the_cache_time(
    api: ApiClient,
    engine: Engine,
    clock: Clock,
    email: str,
    change: Callable[[Session], None],
    status: int,
) -> None:
    cookie = signed_in(email)
    url = "/api/v1/clients/acme-corp/history"
    assert api.get(url, headers=cookie).status_code == 200
    with Session(engine) as session, session.begin():
        change(session)
    clock.now += KEY_CACHE_SECONDS + 0.01
    is_error(api.get(url, headers=cookie), status)
    assert api.get(CLIENTS, headers=cookie).status_code == (401 if status == 401 else 200)


def test_a_key_wins_over_a_cookie(api: ApiClient, keys: dict[str, str]) -> None:
    admin = signed_in("admin@example.com")
    scoped = {**admin, "X-API-Key": keys["acme"]}
    assert bucket_ids(api.get(CLIENTS, headers=scoped), "clients") == ["acme-corp"]
    is_error(api.get(CLIENTS, headers={**admin, "X-API-Key": "nonsense"}), 401, "invalid API key")
    # A key's POST needs no Origin: it is not a browser's ambient credential.
    by_key = api.request("POST", TRIGGER, headers={**admin, "X-API-Key": keys["acme"]})
    is_error(by_key, 403, "collecting needs an admin key")


@pytest.fixture
def unconfigured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No collection settings: a trigger that gets past every check is a 503."""
    monkeypatch.delenv("USAGE_CONFIG", raising=False)
    monkeypatch.delenv("USAGE_RECORDS_URL", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("sent", "allowed"),
    [
        ({}, False),
        ({"Origin": "https://evil.example"}, False),
        ({"Origin": "http://testserver.evil.example"}, False),
        ({"Origin": "null"}, False),
        ({"Referer": "https://evil.example/form.html"}, False),
        ({"Origin": "https://evil.example", "Referer": f"{ORIGIN}/collection"}, False),
        ({"Origin": ORIGIN}, True),
        ({"Origin": ORIGIN + "/"}, True),
        ({"Referer": f"{ORIGIN}/collection?x=1"}, True),
    ],
)
def test_a_cookie_post_must_come_from_the_dashboard_itself(
    api: ApiClient, unconfigured: None, sent: dict[str, str], allowed: bool
) -> None:
    headers = {**signed_in("admin@example.com"), "Content-Type": "application/json", **sent}
    response = api.request("POST", TRIGGER, content=b"{}", headers=headers)
    if allowed:
        body = is_error(response, 503)
        assert body["error"].startswith("collection is not configured: records.url is missing")
    else:
        is_error(response, 403, CROSS_SITE)


def test_a_same_origin_post_still_needs_an_admin(api: ApiClient, unconfigured: None) -> None:
    for email in ("analyst@example.com", "manager@example.com"):
        headers = {**signed_in(email), "Origin": ORIGIN}
        is_error(api.request("POST", TRIGGER, headers=headers), 403, "collecting needs an admin")


def _people(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        return {person.email: person.role for person in session.scalars(select(Person))}


@pytest.mark.parametrize(
    ("email", "claims", "admitted"),
    [
        ("newcomer@example.org", {}, True),
        ("Newcomer@EXAMPLE.org", {}, True),
        ("newcomer@example.org", {"email_verified": None}, False),  # not said: not verified
        ("newcomer@example.org", {"email_verified": False}, False),
        ("newcomer@example.org", {"email_verified": "false"}, False),
        ("newcomer@elsewhere.org", {}, False),
        ("newcomer@sub.example.org", {}, False),
    ],
)
def test_a_verified_email_of_an_allowed_domain_is_added_on_first_use(
    make_api: MakeApi, engine: Engine, email: str, claims: dict[str, Any], admitted: bool
) -> None:
    api = make_api(allowed_domains=["example.org"], default_role="analyst")
    cookie = signed_in(email, **claims)
    # History runs as one statement (autocommit on PostgreSQL): the person
    # and the audit event must be stored all the same.
    response = api.get("/api/v1/clients/globex/history", headers=cookie)
    people = _people(engine)
    with Session(engine) as session:
        added = list_events(session, action=Action.PERSON_ADDED.value, actor="newcomer")
    if not admitted:
        assert is_error(response, 401)["error"]
        assert "newcomer@example.org" not in people
        assert added == []
        return
    assert response.status_code == 200
    assert response.json()["count"] == 2
    assert people["newcomer@example.org"] == Role.ANALYST.value
    assert [event["target"] for event in added] == ["newcomer@example.org"]
    again = api.get(CLIENTS, headers=cookie)
    assert bucket_ids(again, "clients") == EVERY_CLIENT
    assert _people(engine) == people  # added once


def test_a_domain_newcomer_gets_the_default_role(make_api: MakeApi, engine: Engine) -> None:
    api = make_api(allowed_domains=["example.org"])  # default_role: manager, an empty book
    cookie = signed_in("newcomer@example.org")
    assert bucket_ids(api.get(CLIENTS, headers=cookie), "clients") == []
    is_error(api.get("/api/v1/clients/acme-corp", headers=cookie), 404)
    assert _people(engine)["newcomer@example.org"] == Role.MANAGER.value


def test_a_cross_site_post_is_refused_before_anyone_is_admitted(
    make_api: MakeApi, engine: Engine
) -> None:
    """The same-origin check comes first: a forged POST writes nothing, not
    even the person an allowed domain would have admitted."""
    api = make_api(allowed_domains=["example.org"], default_role="analyst")
    headers = {**signed_in("newcomer@example.org"), "Origin": "https://evil.example"}
    is_error(api.request("POST", TRIGGER, content=b"{}", headers=headers), 403, CROSS_SITE)
    assert "newcomer@example.org" not in _people(engine)
    with Session(engine) as session:
        assert list_events(session, action=Action.PERSON_ADDED.value, actor="newcomer") == []
