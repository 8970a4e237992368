"""Shared by the Redis-only store tests: is Redis here, a per-test key prefix, cleanup.

A test that needs Redis is skipped with the reason when no server answers on 127.0.0.1:6379,
unless ``SMPPCORE_REQUIRE_REDIS=1`` (set by CI), where it fails instead. Tests use database 15
and a unique key prefix, and delete only their own keys (never FLUSHDB/FLUSHALL).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
import trio

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/15"
HASH_SECRET = b"redis-only-test-secret-0123456789"


def redis_unavailable() -> str | None:
    """Why Redis cannot be used here, or None if it can."""
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            if not sock.recv(64).startswith(b"+PONG"):
                return f"no Redis answering PING at {REDIS_HOST}:{REDIS_PORT}"
    except OSError as exc:
        return f"no Redis at {REDIS_HOST}:{REDIS_PORT}: {exc}"
    return None


_UNAVAILABLE = redis_unavailable()
_REQUIRED = os.environ.get("SMPPCORE_REQUIRE_REDIS") == "1"

#: Marks for a module of Redis-only tests.
REDIS_MARKS = [pytest.mark.redis] + (
    [pytest.mark.skip(reason=_UNAVAILABLE)] if _UNAVAILABLE is not None and not _REQUIRED else []
)


def require_redis() -> None:
    """Fail (CI) rather than pass vacuously when Redis is required but absent."""
    if _UNAVAILABLE is not None:
        raise RuntimeError(f"SMPPCORE_REQUIRE_REDIS=1 but {_UNAVAILABLE}")


def new_prefix(tag: str) -> str:
    return f"smppcore-test:{tag}:{uuid.uuid4().hex}:"


@contextmanager
def sync_client() -> Iterator[Any]:
    import redis

    client: Any = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        yield client
    finally:
        client.close()


def delete_prefix(prefix: str) -> None:
    """Blocking: delete every key under ``prefix``."""
    with sync_client() as client:
        keys = list(client.scan_iter(match=prefix + "*", count=500))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])


@asynccontextmanager
async def cleaned(prefix: str) -> AsyncIterator[str]:
    """Delete the prefix's keys when the test ends, whatever happened."""
    try:
        yield prefix
    finally:
        with trio.move_on_after(10) as scope:
            scope.shield = True
            await trio.to_thread.run_sync(delete_prefix, prefix)
