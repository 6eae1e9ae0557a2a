"""The live sources of one collection run: an S3 client and the records database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from usage.collect.config import CollectConfig, StorageSource
from usage.collect.inventory import measure_usage
from usage.collect.records import (
    RecordsError,
    count_records,
    make_records_engine,
    records_query,
)
from usage.collect.storage import make_s3_client
from usage.snapshots import SnapshotData


@dataclass(frozen=True)
class Computed:
    snapshot: SnapshotData
    storage_source: StorageSource  # LISTING or INVENTORY: what the figures came from
    storage_note: str | None = None  # why an inventory report was refused, the bucket listed


class Sources:
    """Opened once per run and shared by its workers (both clients are
    thread-safe); ``close`` when the run is over."""

    def __init__(self, config: CollectConfig) -> None:
        self.config = config
        self.s3 = make_s3_client(config.storage, max_connections=config.workers)
        self.records_engine = make_records_engine(config.records, pool_size=config.workers)
        self._query = records_query(config.records)

    def compute(self, bucket_id: str, snapshot_date: dt.date, computed_at: dt.datetime) -> Computed:
        """One client's snapshot, or ``RecordsError``/``StorageError``."""
        try:
            with self.records_engine.connect() as connection:
                records = count_records(connection, self._query, bucket_id)
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise RecordsError(f"records database: {detail}") from exc
        measured = measure_usage(self.s3, self.config.storage, bucket_id, now=computed_at)
        snapshot = SnapshotData(
            snapshot_date=snapshot_date,
            records=records,
            by_prefix=measured.usage,
            computed_at=computed_at,
        )
        return Computed(snapshot, measured.source, measured.refused)

    def close(self) -> None:
        self.records_engine.dispose()
        self.s3.close()
