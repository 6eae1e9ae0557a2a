from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import pytest

from tests.factories import snapshot_json
from usage.anomalies import (
    Anomaly,
    AnomalyKind,
    AnomalySettings,
    Scope,
    Severity,
    find_anomalies,
    find_stopped,
)
from usage.series import STORAGE_BYTES, TOTAL_RECORDS

D = dt.date
DAY = D(2026, 11, 12)
GB = 1_000_000_000
SEPTEMBER = D(2026, 9, 7)


_snapshot = functools.partial(snapshot_json, bucket_id="acme")


def _two_days(
    before: tuple[dict[str, int], dict[str, int]],
    after: tuple[dict[str, int], dict[str, int]],
    gap_days: int = 1,
) -> list[dict[str, Any]]:
    return [
        _snapshot(DAY - dt.timedelta(days=gap_days), *before),
        _snapshot(DAY, *after),
    ]


def _only(anomalies: list[Anomaly], scope: Scope, metric: str) -> Anomaly:
    [found] = [a for a in anomalies if a.scope is scope and a.metric == metric]
    return found


BIG = {"person": 50_000, "payment": 30_000}
STORAGE = {"documents/": 3_400_000_000, "images/": 2 * GB}


def test_a_sharp_drop_in_a_collection_is_a_possible_data_loss() -> None:
    snapshots = _two_days(({**BIG, "member": 12_400}, STORAGE), ({**BIG, "member": 3_100}, STORAGE))
    anomalies = find_anomalies("acme", snapshots)
    assert [(a.kind, a.scope, a.metric) for a in anomalies] == [
        (AnomalyKind.DROP, Scope.COLLECTION, "member")  # the total fell by 10 % only
    ]
    [drop] = anomalies
    assert (drop.bucket_id, drop.day, drop.previous_day) == ("acme", DAY, DAY - dt.timedelta(1))
    assert (drop.before, drop.after, drop.severity) == (12_400, 3_100, Severity.HIGH)
    assert drop.explanation == "`member` fell from 12,400 to 3,100 records on 12 Nov 2026 (-75%)"


def test_a_prefix_drop_is_explained_in_bytes() -> None:
    after = {**STORAGE, "documents/": 900_000_000}
    anomalies = find_anomalies("acme", _two_days((BIG, STORAGE), (BIG, after)))
    drop = _only(anomalies, Scope.PREFIX, "documents/")
    assert drop.kind is AnomalyKind.DROP
    assert drop.in_bytes
    assert drop.explanation == "`documents/` fell from 3.4 GB to 900.0 MB on 12 Nov 2026 (-74%)"
    storage = _only(anomalies, Scope.TOTAL, STORAGE_BYTES)
    assert storage.explanation == "Storage fell from 5.4 GB to 2.9 GB on 12 Nov 2026 (-46%)"
    assert storage.severity is Severity.MEDIUM  # under half lost


@pytest.mark.parametrize(
    ("after", "kind", "severity"),
    [
        (10_000, None, None),  # -20 %: at the threshold, not beyond it
        (9_999, AnomalyKind.DROP, Severity.MEDIUM),
        (5_000, AnomalyKind.DROP, Severity.HIGH),  # half gone
        (18_750, None, None),  # +50 %: at the threshold
        (18_751, AnomalyKind.JUMP, Severity.LOW),
        (0, AnomalyKind.DISAPPEARED, Severity.HIGH),
    ],
)
def test_thresholds(after: int, kind: AnomalyKind | None, severity: Severity | None) -> None:
    snapshots = _two_days(({**BIG, "ticket": 12_500}, STORAGE), ({**BIG, "ticket": after}, STORAGE))
    found = [a for a in find_anomalies("acme", snapshots) if a.metric == "ticket"]
    assert [(a.kind, a.severity) for a in found] == ([] if kind is None else [(kind, severity)])


def test_a_bulk_import_is_a_jump() -> None:
    snapshots = _two_days(({"person": 12_400}, STORAGE), ({"person": 40_100}, STORAGE))
    anomalies = find_anomalies("acme", snapshots)
    assert {(a.kind, a.metric) for a in anomalies} == {
        (AnomalyKind.JUMP, "person"),
        (AnomalyKind.JUMP, TOTAL_RECORDS),
    }
    total = _only(anomalies, Scope.TOTAL, TOTAL_RECORDS)
    assert total.explanation == (
        "Total records jumped from 12,400 to 40,100 records on 12 Nov 2026 (+223%): a bulk import?"
    )


def test_a_disappearing_prefix() -> None:
    before = {**STORAGE, "scans/": 1_200_000_000}
    anomalies = find_anomalies("acme", _two_days((BIG, before), (BIG, STORAGE)))
    gone = _only(anomalies, Scope.PREFIX, "scans/")
    assert (gone.kind, gone.severity, gone.before, gone.after) == (
        AnomalyKind.DISAPPEARED,
        Severity.HIGH,
        1_200_000_000,
        0,
    )
    assert gone.change_pct == -100.0
    assert gone.explanation == "`scans/` is gone on 12 Nov 2026: it held 1.2 GB on 11 Nov 2026"


def test_a_disappearing_collection_and_an_emptied_one() -> None:
    before = {**BIG, "donation": 800, "ticket": 400}
    after = {**BIG}  # donation no longer listed, ticket back to 0
    anomalies = find_anomalies("acme", _two_days((before, STORAGE), (after, STORAGE)))
    assert [(a.kind, a.metric) for a in anomalies] == [
        (AnomalyKind.DISAPPEARED, "ticket"),  # the standard six first, as the snapshot lists them
        (AnomalyKind.DISAPPEARED, "donation"),
    ]
    by_metric = {a.metric: a.explanation for a in anomalies}
    assert (
        by_metric["donation"]
        == "`donation` is gone on 12 Nov 2026: it held 800 records on 11 Nov 2026"
    )
    assert (
        by_metric["ticket"]
        == "`ticket` is empty on 12 Nov 2026: it held 400 records on 11 Nov 2026"
    )


def test_a_change_across_missing_days_names_both_days() -> None:
    snapshots = _two_days(
        ({**BIG, "member": 12_400}, STORAGE), ({**BIG, "member": 3_100}, STORAGE), gap_days=9
    )
    [drop] = find_anomalies("acme", snapshots)
    assert drop.previous_day == D(2026, 11, 3)
    assert drop.explanation == (
        "`member` fell from 12,400 to 3,100 records between 3 Nov and 12 Nov 2026 (-75%)"
    )


def test_small_numbers_are_left_alone() -> None:
    before = {"person": 40, "member": 50}  # 90 in all
    small = {"documents/": 9_000_000}
    after = {"person": 10}
    snapshots = _two_days((before, small), (after, {"documents/": 1_000}))
    assert find_anomalies("acme", snapshots) == []


def _daily(values: list[int], start: dt.date = SEPTEMBER) -> list[dict[str, Any]]:
    return [
        _snapshot(start + dt.timedelta(days=n), {"person": value}, {"documents/": value * 100_000})
        for n, value in enumerate(values)
    ]


def test_a_flat_line_and_a_weekly_rhythm_are_quiet() -> None:
    flat = _daily([20_000] * 30)
    # Weekend dips of 15 %, every week: below the drop threshold.
    week = (1.0, 1.0, 1.02, 1.03, 1.0, 0.87, 0.85)
    rhythm = _daily([round(20_000 * week[n % 7]) + 50 * n for n in range(42)])
    assert find_anomalies("acme", flat) == []
    assert find_anomalies("acme", rhythm) == []


def test_snapshots_in_any_order_give_the_same_events() -> None:
    snapshots = _daily([20_000] * 5 + [5_000] * 5)
    assert find_anomalies("acme", snapshots[::-1]) == find_anomalies("acme", snapshots)
    [drop, *_] = find_anomalies("acme", snapshots)
    assert drop.day == D(2026, 9, 12)


@pytest.mark.parametrize(
    ("status", "silent_days", "severity"),
    [
        ("active", 0, None),  # collected today
        ("active", 2, None),
        ("active", 3, Severity.MEDIUM),
        ("trial", 5, Severity.MEDIUM),
        ("active", 7, Severity.HIGH),
        ("inactive", 30, None),  # not expected to be collected
        ("suspended", 30, None),
        (None, 30, None),  # status unknown: not assumed active
    ],
)
def test_a_stopped_collection(
    status: str | None, silent_days: int, severity: Severity | None
) -> None:
    snapshots = _daily([20_000, 20_100, 20_200])
    last = D(2026, 9, 9)
    found = find_anomalies(
        "acme", snapshots, status=status, as_of=last + dt.timedelta(days=silent_days)
    )
    stopped = [a for a in found if a.kind is AnomalyKind.STOPPED]
    if severity is None:
        assert stopped == []
        return
    [event] = stopped
    assert (event.severity, event.silent_days) == (severity, silent_days)
    assert (event.day, event.previous_day, event.before) == (D(2026, 9, 10), last, 20_200)


def test_a_stopped_collection_is_explained() -> None:
    [last] = _daily([12_400], start=D(2026, 11, 7))
    stopped = find_stopped("acme", D(2026, 11, 7), last, D(2026, 11, 12))
    assert stopped is not None
    assert stopped.explanation == (
        "No snapshot for 5 days up to 12 Nov 2026: the last is from 7 Nov 2026"
        " (12,400 records, 1.2 GB)"
    )
    assert stopped.key == ("acme", "stopped", "total", TOTAL_RECORDS, D(2026, 11, 8))


def test_settings_change_the_thresholds() -> None:
    snapshots = _daily([20_000, 18_000])  # -10 %
    assert find_anomalies("acme", snapshots) == []
    strict = AnomalySettings(drop_share=0.05, min_records=50_000, min_bytes=1)
    found = find_anomalies("acme", snapshots, settings=strict)
    # The records are under min_records; the bytes are not under min_bytes.
    assert [(a.kind, a.metric) for a in found] == [
        (AnomalyKind.DROP, STORAGE_BYTES),
        (AnomalyKind.DROP, "documents/"),
    ]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"drop_share": 0.0},
        {"drop_share": 0.6, "severe_drop_share": 0.5},
        {"jump_share": -1.0},
        {"stopped_days": 0},
        {"stopped_days": 8, "severe_stopped_days": 7},
    ],
)
def test_settings_refuse_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each names its own field
        AnomalySettings(**kwargs)
