"""The product's own tests of writing and reading snapshots (the API's
history and listings, collection, the kept totals, the portfolio, export and
import), run again on a PostgreSQL store whose snapshot tables are
partitioned by quarter (``python -m usage db partition-snapshots``).

The tests are imported from their modules; the ``backend`` and
``database_url`` fixtures below replace the conftest's for them, so every
``engine``, ``cli`` and collection ``config`` they take is partitioned.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from tests.conftest import new_database_url
from tests.test_api import (  # noqa: F401 - the fixtures and tests run here too
    api,
    keys,
    test_client_detail_has_totals_and_latest_snapshot,
    test_each_request_sees_what_was_written_before_it,
    test_history_newest_first_with_count,
    test_history_snapshot_equals_client_latest_and_day_listing,
    test_snapshots_by_date_pages,
)
from tests.test_collect_runner import (  # noqa: F401
    s3,
    targets,
    test_a_backfill_stores_the_given_day,
    test_a_write_that_fails_midway_changes_nothing,
    test_collecting_a_day_again_replaces_it_whole,
    test_concurrent_replacements_never_show_half_a_snapshot,
    test_each_clients_snapshot_is_stored,
)
from tests.test_history import (  # noqa: F401
    ten_days,
    test_range_limit_and_order,
    test_replace_snapshot_replaces_the_day_whole,
    test_snapshot_shape_totals_and_extra_collections,
)
from tests.test_portfolio import (  # noqa: F401
    portfolio,
    test_a_day_has_one_total_whatever_the_window,
    test_movers,
    test_portfolio_totals_count_each_client_with_its_latest_snapshot,
    test_sparklines_leave_missing_days_empty,
    test_summary_compares_the_latest_snapshot_with_the_one_30_days_before,
)
from tests.test_totals import (  # noqa: F401
    test_a_failed_write_leaves_the_tables_as_they_were,
    test_an_import_and_the_demo_keep_the_tables_true,
    test_concurrent_writers_add_up,
    test_random_writes_keep_the_tables_true,
    test_rebuild_makes_the_same_tables,
)
from tests.test_transfer import (  # noqa: F401
    other_engine,
    small,
    test_export_then_import_into_an_empty_database_gives_the_same_history,
    test_import_is_idempotent_and_replaces_days_whole,
)
from usage.db import make_engine
from usage.partitions import Period, is_partitioned, partition_snapshots

# Quarters from before the tests' first days, so that their snapshots fall
# in many partitions (the demo's oldest ones in the default).
FIRST_PARTITION = dt.date(2023, 1, 1)


@pytest.fixture(params=["postgresql"], ids=["partitioned"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    """A new, migrated, empty PostgreSQL store, partitioned."""
    url = new_database_url(request, backend, tmp_path)
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        partition_snapshots(session, Period.QUARTER, today=dt.date.today(), first=FIRST_PARTITION)
    with Session(engine) as session:
        assert is_partitioned(session)
    engine.dispose()
    return url
