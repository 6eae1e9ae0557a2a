"""The live sources of one collection run: an S3 client and the records database."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.exc import SQLAlchemyError

from usage.collect.config import CollectConfig
from usage.collect.records import (
    RecordsError,
    count_records,
    make_records_engine,
    records_query,
)
from usage.collect.storage import make_s3_client, measure_storage
from usage.snapshots import SnapshotData


class Sources:
    """Opened once per run and shared by its workers (both clients are
    thread-safe); ``close`` when the run is over."""

    def __init__(self, config: CollectConfig) -> None:
        self.config = config
        self.s3 = make_s3_client(config.storage, max_connections=config.workers)
        self.records_engine = make_records_engine(config.records, pool_size=config.workers)
        self._query = records_query(config.records)

    def compute(
        self, bucket_id: str, snapshot_date: dt.date, computed_at: dt.datetime
    ) -> SnapshotData:
        """One client's snapshot, or ``RecordsError``/``StorageError``."""
        try:
            with self.records_engine.connect() as connection:
                records = count_records(connection, self._query, bucket_id)
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise RecordsError(f"records database: {detail}") from exc
        storage = self.config.storage
        by_prefix = measure_storage(self.s3, storage.locate(bucket_id), storage.page_size)
        return SnapshotData(
            snapshot_date=snapshot_date,
            records=records,
            by_prefix=by_prefix,
            computed_at=computed_at,
        )

    def close(self) -> None:
        self.records_engine.dispose()
        self.s3.close()
