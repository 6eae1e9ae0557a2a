from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.factories import new_client
from usage.access import Via
from usage.audit import Actor, list_events
from usage.errors import InvalidParams, NotFound, UsageError
from usage.models import Assignment, Client, Role
from usage.people import (
    PersonInfo,
    add_person,
    assign,
    list_people,
    person_principal,
    remove_person,
    set_role,
    unassign,
)

ADMIN = Actor("admin@example.com", "203.0.113.9")
ANN = "ann@example.com"
BOB = "bob@example.com"
BUCKETS = ("acme-corp", "globex", "initech")


@pytest.fixture
def store(engine: Engine) -> Engine:
    """Three clients, and Ann managing acme-corp and globex."""
    with Session(engine) as session, session.begin():
        for bucket in BUCKETS:
            new_client(session, bucket)
        add_person(session, ANN, Role.MANAGER, ["acme-corp", "globex"], actor=ADMIN)
    return engine


def _people(engine: Engine) -> list[tuple[str, Role, tuple[str, ...]]]:
    with Session(engine) as session:
        return [(info.email, info.role, info.book) for info in list_people(session)]


def _events(engine: Engine) -> list[tuple[str, str, str, str, str]]:
    """The audit trail oldest first: (actor, action, target, detail, address)."""
    with Session(engine) as session:
        events = list_events(session, limit=None)
    return [
        (e["actor"], e["action"], e["target"], e["detail"], e["address"]) for e in reversed(events)
    ]


def _assignment_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Assignment)) or 0


def test_add_person_stores_the_email_lower_cased_with_role_and_book(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        for bucket in BUCKETS:
            new_client(session, bucket)
        # a bucket named twice is assigned once
        add_person(session, " Bob@Example.COM ", Role.MANAGER, ["globex", "acme-corp", "globex"],
                   actor=ADMIN)  # fmt: skip
    with Session(engine) as session:
        (info,) = list_people(session)
    assert isinstance(info, PersonInfo)
    assert (info.email, info.role, info.book) == (BOB, Role.MANAGER, ("acme-corp", "globex"))
    assert info.created_at is not None
    assert _events(engine) == [
        (ADMIN.name, "person_added", BOB, "role manager", ADMIN.address),
        (ADMIN.name, "book_assigned", BOB, "acme-corp globex", ADMIN.address),
    ]


def test_a_person_without_book_gets_no_assignment_event(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        add_person(session, BOB, Role.ANALYST, [], actor=ADMIN)
    assert _people(engine) == [(BOB, Role.ANALYST, ())]
    assert [event[1] for event in _events(engine)] == ["person_added"]


def test_assign_adds_only_what_is_new_and_records_it(store: Engine) -> None:
    with Session(store) as session, session.begin():
        added = assign(session, "ANN@example.com", ["globex", "initech"], actor=ADMIN)
        again = assign(session, ANN, ["initech"], actor=ADMIN)
    assert (added, again) == (["initech"], [])
    assert _people(store) == [(ANN, Role.MANAGER, BUCKETS)]
    assert _events(store)[-1] == (ADMIN.name, "book_assigned", ANN, "initech", ADMIN.address)
    assert len(_events(store)) == 3  # added, assigned at add, assigned initech: nothing for `again`


def test_unassign_removes_only_what_was_there_and_records_it(store: Engine) -> None:
    with Session(store) as session, session.begin():
        removed = unassign(session, ANN, ["globex", "initech"], actor=ADMIN)
        again = unassign(session, ANN, ["globex"], actor=ADMIN)
    assert (removed, again) == (["globex"], [])
    assert _people(store) == [(ANN, Role.MANAGER, ("acme-corp",))]
    assert _events(store)[-1] == (ADMIN.name, "book_unassigned", ANN, "globex", ADMIN.address)
    assert len(_events(store)) == 3


def test_set_role_records_a_change_and_nothing_for_the_same_role(store: Engine) -> None:
    with Session(store) as session, session.begin():
        set_role(session, ANN, Role.MANAGER, actor=ADMIN)
    assert len(_events(store)) == 2
    with Session(store) as session, session.begin():
        set_role(session, ANN, Role.ANALYST, actor=ADMIN)
    # the book stays: a manager again reads the same clients
    assert _people(store) == [(ANN, Role.ANALYST, ("acme-corp", "globex"))]
    assert _events(store)[-1] == (
        ADMIN.name, "role_changed", ANN, "manager -> analyst", ADMIN.address
    )  # fmt: skip


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        (Role.ADMIN, None),
        (Role.ANALYST, None),
        (Role.MANAGER, frozenset({"acme-corp", "globex"})),
    ],
)
def test_person_principal_sees_per_role(
    store: Engine, role: Role, visible: frozenset[str] | None
) -> None:
    with Session(store) as session, session.begin():
        set_role(session, ANN, role, actor=ADMIN)
    with Session(store) as session:
        principal = person_principal(session, ANN)
    assert principal is not None
    assert (principal.name, principal.role, principal.via) == (ANN, role, Via.SESSION)
    assert principal.book == frozenset({"acme-corp", "globex"})
    assert principal.visible == visible
    assert principal.may_read("initech") is (visible is None)
    assert principal.is_admin is (role is Role.ADMIN)
    assert principal.actor == ANN


def test_a_manager_with_an_empty_book_sees_nothing(store: Engine) -> None:
    with Session(store) as session, session.begin():
        unassign(session, ANN, ["acme-corp", "globex"], actor=ADMIN)
    with Session(store) as session:
        principal = person_principal(session, ANN)
    assert principal is not None
    assert principal.visible == frozenset()
    assert not principal.may_read("acme-corp")


def test_person_principal_reads_the_store_now(store: Engine) -> None:
    with Session(store) as session, session.begin():
        unassign(session, ANN, ["globex"], actor=ADMIN)
    with Session(store) as session:
        principal = person_principal(session, ANN)
        assert principal is not None
        assert principal.visible == frozenset({"acme-corp"})
    with Session(store) as session, session.begin():
        remove_person(session, ANN, actor=ADMIN)
    with Session(store) as session:
        assert person_principal(session, ANN) is None
        assert person_principal(session, "nobody@example.com") is None


def test_removing_a_person_leaves_no_assignment(store: Engine) -> None:
    with Session(store) as session, session.begin():
        add_person(session, BOB, Role.MANAGER, ["globex"], actor=ADMIN)
    assert _assignment_count(store) == 3
    with Session(store) as session, session.begin():
        remove_person(session, ANN, actor=ADMIN)
    assert _people(store) == [(BOB, Role.MANAGER, ("globex",))]
    assert _assignment_count(store) == 1
    assert _events(store)[-1] == (ADMIN.name, "person_removed", ANN, "role manager", ADMIN.address)


def test_deleting_a_client_leaves_no_assignment(store: Engine) -> None:
    with Session(store) as session, session.begin():
        add_person(session, BOB, Role.MANAGER, ["globex", "initech"], actor=ADMIN)
    with Session(store) as session, session.begin():
        globex = session.scalars(select(Client).where(Client.bucket_id == "globex")).one()
        globex_id = globex.id
        session.delete(globex)
        session.flush()
        # gone in the same transaction, by the database's ON DELETE CASCADE
        left = session.scalar(
            select(func.count()).select_from(Assignment).where(Assignment.client_id == globex_id)
        )
        assert left == 0
    assert _people(store) == [
        (ANN, Role.MANAGER, ("acme-corp",)),
        (BOB, Role.MANAGER, ("initech",)),
    ]
    assert _assignment_count(store) == 2
    with Session(store) as session:
        principal = person_principal(session, BOB)
    assert principal is not None
    assert principal.visible == frozenset({"initech"})


def test_every_change_is_recorded_with_its_actor(store: Engine) -> None:
    other = Actor("key:ops")
    with Session(store) as session, session.begin():
        add_person(session, BOB, Role.ANALYST, [], actor=other)
        assign(session, BOB, ["initech"], actor=other)
        unassign(session, BOB, ["initech"], actor=ADMIN)
        set_role(session, BOB, Role.ADMIN, actor=ADMIN)
        remove_person(session, BOB, actor=other)
    assert _events(store)[2:] == [
        ("key:ops", "person_added", BOB, "role analyst", ""),
        ("key:ops", "book_assigned", BOB, "initech", ""),
        (ADMIN.name, "book_unassigned", BOB, "initech", ADMIN.address),
        (ADMIN.name, "role_changed", BOB, "analyst -> admin", ADMIN.address),
        ("key:ops", "person_removed", BOB, "role admin", ""),
    ]


Change = Callable[[Session], object]


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda s: add_person(s, "Ann@example.com", Role.ADMIN, [], actor=ADMIN),
         InvalidParams, "a person with email 'ann@example.com' exists already"),
        (lambda s: add_person(s, BOB, Role.MANAGER, ["globex", "nope"], actor=ADMIN),
         InvalidParams, "bucket 'nope' is not a known client"),
        (lambda s: add_person(s, "bob", Role.MANAGER, [], actor=ADMIN),
         InvalidParams, "email must be an email address such as ann@example.com"),
        (lambda s: assign(s, ANN, ["initech", "no/slash"], actor=ADMIN),
         InvalidParams, "bucket must be 1 to 64 characters of letters, digits, '-' or '_'"),
        (lambda s: assign(s, BOB, ["initech"], actor=ADMIN),
         NotFound, "no person with email 'bob@example.com'"),
        (lambda s: unassign(s, BOB, ["globex"], actor=ADMIN),
         NotFound, "no person with email 'bob@example.com'"),
        (lambda s: unassign(s, ANN, ["nope"], actor=ADMIN),
         InvalidParams, "bucket 'nope' is not a known client"),
        (lambda s: set_role(s, BOB, Role.ADMIN, actor=ADMIN),
         NotFound, "no person with email 'bob@example.com'"),
        (lambda s: remove_person(s, BOB, actor=ADMIN),
         NotFound, "no person with email 'bob@example.com'"),
    ],
)  # fmt: skip
def test_a_refused_change_changes_and_records_nothing(
    store: Engine, change: Change, error: type[UsageError], message: str
) -> None:
    before = (_people(store), _events(store))
    with pytest.raises(error) as raised, Session(store) as session, session.begin():
        change(session)
    assert raised.value.message == message
    assert (_people(store), _events(store)) == before


def test_list_people_is_ordered_by_email_with_sorted_books(store: Engine) -> None:
    with Session(store) as session, session.begin():
        add_person(session, "zed@example.com", Role.MANAGER, ["initech", "acme-corp"], actor=ADMIN)
        add_person(session, "amy@example.com", Role.ADMIN, [], actor=ADMIN)
    assert _people(store) == [
        ("amy@example.com", Role.ADMIN, ()),
        (ANN, Role.MANAGER, ("acme-corp", "globex")),
        ("zed@example.com", Role.MANAGER, ("acme-corp", "initech")),
    ]
