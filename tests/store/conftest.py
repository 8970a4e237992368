"""Fixtures for the store tests: one ``store`` fixture, parametrised over both backends.

The Redis param needs ``smppcore.store.redis`` and a server on 127.0.0.1:6379 (database 15);
without them it is skipped, unless ``SMPPCORE_REQUIRE_REDIS=1`` (set by CI), where it fails.
Each Redis test works under its own key prefix and deletes its keys afterwards.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from smppcore.store.base import Store

HASH_SECRET = b"contract-test-secret-0123456789"
REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/15"


def _redis_unavailable() -> str | None:
    """Why the Redis backend cannot be tested here, or None if it can."""
    try:
        import smppcore.store.redis  # noqa: F401
    except Exception as exc:  # ImportError, or a broken module: report it, don't crash
        return f"smppcore.store.redis cannot be imported: {exc!r}"
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            if not sock.recv(64).startswith(b"+PONG"):
                return f"no Redis answering PING at {REDIS_HOST}:{REDIS_PORT}"
    except OSError as exc:
        return f"no Redis at {REDIS_HOST}:{REDIS_PORT}: {exc}"
    return None


#: Decided once, before trio runs, so a skip shows its reason.
_REDIS_UNAVAILABLE = _redis_unavailable()
_REQUIRE_REDIS = os.environ.get("SMPPCORE_REQUIRE_REDIS") == "1"
_REDIS_MARKS = [pytest.mark.redis]
if _REDIS_UNAVAILABLE is not None and not _REQUIRE_REDIS:
    _REDIS_MARKS.append(pytest.mark.skip(reason=_REDIS_UNAVAILABLE))


def _delete_prefix(prefix: str) -> None:
    """Blocking (redis-py's asyncio client does not run under trio): call in a thread."""
    import redis

    client: Any = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=500))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


#: The backends, as ``pytest.mark.parametrize`` values (Redis marked and maybe skipped).
BACKENDS = ["sqlite", pytest.param("redis", marks=_REDIS_MARKS)]


@asynccontextmanager
async def open_test_store(backend: str, tmp_path: Path) -> AsyncIterator[Store]:
    """A store of ``backend`` for one test (or one hypothesis example)."""
    if backend == "sqlite":
        from smppcore.store.sqlite import open_sqlite_store

        async with open_sqlite_store(tmp_path / "store.db", hash_secret=HASH_SECRET) as s:
            yield s
        return

    if _REDIS_UNAVAILABLE is not None:
        raise RuntimeError(f"SMPPCORE_REQUIRE_REDIS=1 but {_REDIS_UNAVAILABLE}")
    from smppcore.store.redis import open_redis_store

    prefix = f"smppcore-test:{uuid.uuid4().hex}:"
    try:
        async with open_redis_store(REDIS_URL, hash_secret=HASH_SECRET, key_prefix=prefix) as r:
            yield r
    finally:
        with trio.move_on_after(10) as scope:
            scope.shield = True
            await trio.to_thread.run_sync(_delete_prefix, prefix)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_test_store(request.param, tmp_path) as s:
        yield s
