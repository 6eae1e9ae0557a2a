"""Storage usage of one client: a paginated listing of its keys, summed by top-level prefix.

The listing is flat (no delimiter) and consumed a page at a time, keeping only
one running total per top-level prefix, so memory does not grow with the
object count. S3 lists keys in strictly increasing order; a listing that does
not is refused rather than risk counting an object twice.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from usage.collect.config import Location, StorageConfig
from usage.models import ROOT_PREFIX

PrefixUsage = dict[str, tuple[int, int]]  # top-level prefix -> (object count, bytes)


class StorageError(Exception):
    """The listing failed; the message says which location and why."""


def make_s3_client(config: StorageConfig, max_connections: int = 10) -> Any:
    """An S3 client (thread-safe, shared by the workers).

    Credentials, and the endpoint and region when not configured, come from
    boto3's usual chain: environment variables, then the AWS config files.
    """
    session = boto3.session.Session(profile_name=config.profile)
    return session.client(
        "s3",
        endpoint_url=config.endpoint_url,
        region_name=config.region,
        config=Config(
            retries={"mode": "standard", "max_attempts": config.max_attempts},
            connect_timeout=config.timeout_seconds,
            read_timeout=config.timeout_seconds,
            max_pool_connections=max(max_connections, 1),
            s3={"addressing_style": config.addressing_style.value},
        ),
    )


def top_level_prefix(relative_key: str) -> str:
    """``documents/2024/a.pdf`` -> ``documents/``; ``a.txt`` -> ``ROOT_PREFIX``."""
    slash = relative_key.find("/")
    return relative_key[: slash + 1] if slash >= 0 else ROOT_PREFIX


def measure_storage(s3: Any, location: Location, page_size: int = 1000) -> PrefixUsage:
    """Object count and bytes of every key under ``location``, by top-level prefix.

    Raises ``StorageError`` when the bucket does not exist or the listing
    fails part way (nothing partial is returned).
    """
    totals: dict[str, list[int]] = {}
    last_key: str | None = None
    listed = 0
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=location.bucket,
        Prefix=location.prefix,
        PaginationConfig={"PageSize": page_size},
    )
    try:
        for page in pages:
            for item in page.get("Contents", ()):
                key: str = item["Key"]
                if last_key is not None and key <= last_key:
                    raise StorageError(
                        f"listing {location} returned {key!r} after {last_key!r}:"
                        " keys out of order, refusing to count objects twice"
                    )
                last_key = key
                entry = totals.setdefault(top_level_prefix(key[len(location.prefix) :]), [0, 0])
                entry[0] += 1
                entry[1] += int(item["Size"])
                listed += 1
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "error")
        if code == "NoSuchBucket":
            raise StorageError(f"bucket {location.bucket!r} does not exist") from exc
        raise StorageError(
            f"listing {location} failed after {listed} objects: {code}: {error.get('Message', '')}"
        ) from exc
    except BotoCoreError as exc:
        raise StorageError(f"listing {location} failed after {listed} objects: {exc}") from exc
    return {prefix: (count, size) for prefix, (count, size) in sorted(totals.items())}
