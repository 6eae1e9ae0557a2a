"""Collection shards: ``--shard K/N`` takes the clients whose bucket_id hashes to K of N.

The hash is SHA-256 of the bucket_id's UTF-8 bytes, its first 8 bytes read as
a big-endian integer, modulo N: the same on every machine, Python version and
run (Python's own ``hash`` of a string changes with each process). K counts
from 1, as people say "shard 1 of 4"; a Kubernetes indexed Job's
``JOB_COMPLETION_INDEX`` counts from 0, so it runs ``--shard
$((JOB_COMPLETION_INDEX + 1))/N``. Adding a client moves no other client; the
clients of one shard change when N changes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from usage.errors import InvalidParams

MAX_SHARDS = 10_000
_SHARD = re.compile(r"\s*(\d{1,6})\s*/\s*(\d{1,6})\s*")


@dataclass(frozen=True)
class Shard:
    number: int  # K, from 1 to count
    count: int  # N

    def holds(self, bucket_id: str) -> bool:
        return shard_index(bucket_id, self.count) == self.number - 1

    def __str__(self) -> str:
        return f"{self.number}/{self.count}"


def shard_index(bucket_id: str, count: int) -> int:
    """The shard of ``bucket_id`` among ``count``, from 0."""
    digest = hashlib.sha256(bucket_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def parse_shard(raw: str | None, name: str = "--shard") -> Shard | None:
    """``K/N`` with 1 <= K <= N <= MAX_SHARDS, or ``InvalidParams`` naming ``name``."""
    if raw is None:
        return None
    match = _SHARD.fullmatch(raw)
    number, count = (int(match[1]), int(match[2])) if match else (0, 0)
    if not 1 <= number <= count <= MAX_SHARDS:
        raise InvalidParams(
            f"{name} must be K/N, whole numbers with 1 <= K <= N <= {MAX_SHARDS}"
            f" (e.g. {name} 2/4), not {raw!r}"
        )
    return Shard(number, count)
