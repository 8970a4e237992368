"""The SQLite writer: many concurrent writes share commits; a failing write fails alone."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio

from smppcore.store.base import MtMessage
from smppcore.store.sqlite import StoreClosedError, open_sqlite_store
from smppcore.store.sqlite_schema import SCHEMA_VERSION

SECRET = b"engine-test-secret-0123456789"


def _m(mid: str) -> MtMessage:
    return MtMessage(id=mid, account="a", connector="c", source_addr="1", destination_addr="2")


async def test_concurrent_writes_share_commits_and_a_failure_stays_alone(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with open_sqlite_store(tmp_path / "e.db", hash_secret=SECRET) as store:
            await store.enqueue_mt([_m("dup")])
            errors: list[BaseException] = []

            async def put(mid: str) -> None:
                try:
                    await store.enqueue_mt([_m(mid)])
                except sqlite3.IntegrityError as exc:
                    errors.append(exc)

            async with trio.open_nursery() as nursery:
                for i in range(200):
                    nursery.start_soon(put, "dup" if i == 100 else f"m{i}")
            assert len(errors) == 1
            for i in range(200):
                if i != 100:
                    assert await store.get_mt(f"m{i}") is not None
            stats = store.statistics()
            assert stats.writes == 201
            assert stats.commits < stats.writes  # group commit happened
            assert stats.largest_batch > 1


async def test_closed_store_refuses_writes_and_reopen_keeps_schema(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with open_sqlite_store(tmp_path / "e.db", hash_secret=SECRET) as store:
            await store.enqueue_mt([_m("kept")])
            await store.aclose()
            with pytest.raises(StoreClosedError):
                await store.enqueue_mt([_m("late")])
        async with open_sqlite_store(tmp_path / "e.db", hash_secret=SECRET) as store:
            assert await store.get_mt("kept") is not None
        conn = sqlite3.connect(tmp_path / "e.db")
        try:
            versions = [r[0] for r in conn.execute("SELECT version FROM schema_version")]
            assert versions == list(range(1, SCHEMA_VERSION + 1))
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            conn.close()


async def test_body_exception_comes_out_as_itself(tmp_path: Path) -> None:
    with trio.fail_after(20), pytest.raises(KeyError):
        async with open_sqlite_store(tmp_path / "e.db", hash_secret=SECRET):
            raise KeyError("boom")
