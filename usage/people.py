"""People who sign in, their roles and their books of clients.

Every change is recorded in the audit trail in the same transaction. A
person's principal is read fresh from here; the API keeps it for
``usage.api.KEY_CACHE_SECONDS`` and the pages for
``ui.access.PRINCIPAL_TTL_SECONDS``, so a removal, a role change or an
unassignment takes effect within 5 seconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from usage.access import Principal, Via
from usage.audit import Action, Actor, record
from usage.errors import InvalidParams, NotFound
from usage.models import Assignment, Client, Person, Role
from usage.validation import parse_bucket_id, parse_email


@dataclass(frozen=True)
class PersonInfo:
    email: str
    role: Role
    book: tuple[str, ...]  # bucket ids, sorted
    created_at: dt.datetime


def _person(session: Session, email: str) -> Person:
    person = session.scalar(select(Person).where(Person.email == parse_email(email)))
    if person is None:
        raise NotFound(f"no person with email {parse_email(email)!r}")
    return person


def _client_ids(session: Session, buckets: Iterable[str]) -> dict[str, int]:
    """Bucket id -> client id for each of ``buckets``; an unknown one is an
    error naming it."""
    wanted = sorted({parse_bucket_id(bucket, "bucket") for bucket in buckets})
    rows = session.execute(select(Client.bucket_id, Client.id).where(Client.bucket_id.in_(wanted)))
    found: dict[str, int] = dict(rows.all())
    unknown = [bucket for bucket in wanted if bucket not in found]
    if unknown:
        raise InvalidParams(f"bucket {unknown[0]!r} is not a known client")
    return found


def _book(session: Session, person_id: int) -> tuple[str, ...]:
    return tuple(
        session.scalars(
            select(Client.bucket_id)
            .join(Assignment, Assignment.client_id == Client.id)
            .where(Assignment.person_id == person_id)
            .order_by(Client.bucket_id)
        )
    )


def add_person(
    session: Session, email: str, role: Role, buckets: Iterable[str], *, actor: Actor
) -> None:
    address = parse_email(email)
    if session.scalar(select(Person.id).where(Person.email == address)) is not None:
        raise InvalidParams(f"a person with email {address!r} exists already")
    clients = _client_ids(session, buckets)
    try:
        with session.begin_nested():  # a racing add of the same person: the same message
            person_id = session.scalar(
                insert(Person).values(email=address, role=role.value).returning(Person.id)
            )
    except IntegrityError:
        raise InvalidParams(f"a person with email {address!r} exists already") from None
    assert person_id is not None
    record(session, actor, Action.PERSON_ADDED, address, f"role {role.value}")
    _assign(session, person_id, address, clients, actor)


def _assign(
    session: Session, person_id: int, email: str, clients: dict[str, int], actor: Actor
) -> list[str]:
    have = set(_book(session, person_id))
    added = sorted(bucket for bucket in clients if bucket not in have)
    if added:
        session.execute(
            insert(Assignment),
            [{"person_id": person_id, "client_id": clients[bucket]} for bucket in added],
        )
        record(session, actor, Action.BOOK_ASSIGNED, email, " ".join(added))
    return added


def assign(session: Session, email: str, buckets: Iterable[str], *, actor: Actor) -> list[str]:
    """Add clients to a person's book; returns those that were not in it."""
    person = _person(session, email)
    return _assign(session, person.id, person.email, _client_ids(session, buckets), actor)


def unassign(session: Session, email: str, buckets: Iterable[str], *, actor: Actor) -> list[str]:
    """Take clients out of a person's book; returns those that were in it."""
    person = _person(session, email)
    clients = _client_ids(session, buckets)
    have = set(_book(session, person.id))
    removed = sorted(bucket for bucket in clients if bucket in have)
    if removed:
        session.execute(
            delete(Assignment).where(
                Assignment.person_id == person.id,
                Assignment.client_id.in_([clients[bucket] for bucket in removed]),
            )
        )
        record(session, actor, Action.BOOK_UNASSIGNED, person.email, " ".join(removed))
    return removed


def set_role(session: Session, email: str, role: Role, *, actor: Actor) -> None:
    person = _person(session, email)
    if person.role != role.value:
        record(session, actor, Action.ROLE_CHANGED, person.email, f"{person.role} -> {role.value}")
        person.role = role.value


def remove_person(session: Session, email: str, *, actor: Actor) -> None:
    """Remove a person; their assignments go with them (ON DELETE CASCADE)."""
    person = _person(session, email)
    session.delete(person)
    session.flush()
    record(session, actor, Action.PERSON_REMOVED, person.email, f"role {person.role}")


def list_people(session: Session) -> list[PersonInfo]:
    people = session.scalars(select(Person).order_by(Person.email)).all()
    books: dict[int, list[str]] = {person.id: [] for person in people}
    rows = session.execute(
        select(Assignment.person_id, Client.bucket_id)
        .join(Client, Client.id == Assignment.client_id)
        .order_by(Client.bucket_id)
    )
    for person_id, bucket_id in rows:
        books[person_id].append(bucket_id)
    return [
        PersonInfo(person.email, Role(person.role), tuple(books[person.id]), person.created_at)
        for person in people
    ]


def person_principal(session: Session, email: str) -> Principal | None:
    """The signed-in person's principal as the store has it now; None for
    someone who is not (or no longer) in the store."""
    person = session.scalar(select(Person).where(Person.email == email))
    if person is None:
        return None
    book = frozenset(_book(session, person.id))
    return Principal(person.email, Role(person.role), book, Via.SESSION)
