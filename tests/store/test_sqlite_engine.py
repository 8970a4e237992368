"""The SQLite writer: many concurrent writes share commits; a failing write fails alone."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio

from smppcore.store.base import MtMessage
from smppcore.store.sqlite import StoreClosedError, open_sqlite_store
from smppcore.store.sqlite_ops import CONVERSATION_INSERT, conversation_params
from smppcore.store.sqlite_rows import MT_INSERT, mt_params
from smppcore.store.sqlite_schema import SCHEMA_VERSION

SECRET = b"engine-test-secret-0123456789"


def _m(mid: str) -> MtMessage:
    return MtMessage(id=mid, account="a", connector="c", source_addr="1", destination_addr="2")


def _bad_row(mid: str) -> tuple[object, ...]:
    """The insert parameters of ``_m(mid)`` with a NULL account: violates NOT NULL."""
    params = list(mt_params(_m(mid)))
    params[1] = None
    return tuple(params)


async def test_concurrent_writes_share_commits_and_a_failure_stays_alone(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with open_sqlite_store(tmp_path / "e.db", hash_secret=SECRET) as store:
            await store.enqueue_mt([_m("first")])
            errors: list[BaseException] = []

            async def put(i: int) -> None:
                try:
                    if i == 100:
                        await store._engine.write_rows(MT_INSERT, [_bad_row("bad")])
                    else:
                        await store.enqueue_mt([_m(f"m{i}")])
                except sqlite3.IntegrityError as exc:
                    errors.append(exc)

            async with trio.open_nursery() as nursery:
                for i in range(200):
                    nursery.start_soon(put, i)
            assert len(errors) == 1
            for i in range(200):
                if i != 100:
                    assert await store.get_mt(f"m{i}") is not None
            assert await store.get_mt("bad") is None
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


async def test_mixed_row_writes_with_a_failure_keep_the_others_and_their_parts(
    tmp_path: Path,
) -> None:
    """write_parts: enqueues with conversations and an invalid row (with its conversation) in
    one group commit; the invalid one fails alone and leaves none of its parts behind."""
    from smppcore.store.base import Conversation

    with trio.fail_after(20):
        async with open_sqlite_store(tmp_path / "e.db", hash_secret=SECRET) as store:
            failed: list[str] = []

            async def put(i: int) -> None:
                mid = "bad" if i == 7 else f"m{i}"
                conv = Conversation(f"2760000{i:04d}", f"2782000{i:04d}", "a", 1.0, 0.0)
                try:
                    if i == 7:
                        await store._engine.write_parts(
                            [(CONVERSATION_INSERT, [conversation_params(conv)]),
                             (MT_INSERT, [_bad_row(mid)])]
                        )  # fmt: skip
                    else:
                        await store.enqueue_mt([_m(mid)], conversations=[conv])
                except sqlite3.IntegrityError:
                    failed.append(mid)

            async with trio.open_nursery() as nursery:
                for i in range(40):
                    nursery.start_soon(put, i)
            assert failed == ["bad"]
            # The failed request's conversation was rolled back with its message.
            assert await store.get_conversation("27600000007", "27820000007") is None
            for i in range(40):
                if i != 7:
                    assert await store.get_mt(f"m{i}") is not None
                    found = await store.get_conversation(f"2760000{i:04d}", f"2782000{i:04d}")
                    assert found is not None


async def test_quick_read_falls_back_to_the_pool_when_sqlite_says_busy(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with open_sqlite_store(tmp_path / "e.db", hash_secret=SECRET) as store:
            engine = store._engine
            await store.add_suppression("acme", "27820000001", "STOP", 1.0)
            assert await store.is_suppressed(["acme"], "27820000001")
            seen: list[str] = []

            def busy_on_the_quick_connection(conn: sqlite3.Connection) -> int:
                if conn is engine._quick:
                    seen.append("quick")
                    raise sqlite3.OperationalError("database is locked")
                seen.append("pool")
                return int(conn.execute("SELECT COUNT(*) FROM suppressions").fetchone()[0])

            assert await engine.read_quick(busy_on_the_quick_connection) == 1
            assert seen == ["quick", "pool"]
        # Closed: the quick connection is gone, nothing is answered from it.
        assert engine._quick is None


async def test_a_write_whose_error_ended_the_transaction_does_not_stop_the_writer(
    tmp_path: Path,
) -> None:
    """Some SQLite errors (disk full, I/O error) roll the transaction back by themselves; the
    writer's own ROLLBACK then fails. The failing write must fail alone, later writes work."""

    def fails_like_a_full_disk(conn: sqlite3.Connection) -> None:
        conn.execute("ROLLBACK")
        raise sqlite3.OperationalError("database or disk is full")

    with trio.fail_after(20):
        async with open_sqlite_store(tmp_path / "e.db", hash_secret=SECRET) as store:
            with pytest.raises(sqlite3.OperationalError, match="full"):
                await store._engine.write(fails_like_a_full_disk)
            await store.enqueue_mt([_m("after")])
            assert await store.get_mt("after") is not None
            # In a group commit with others: whoever reports success is committed.
            ok: list[str] = []

            async def put(i: int) -> None:
                try:
                    if i == 5:
                        await store._engine.write(fails_like_a_full_disk)
                    else:
                        await store._engine.write(
                            lambda c: c.execute(MT_INSERT, mt_params(_m(f"g{i}")))
                        )
                        ok.append(f"g{i}")
                except sqlite3.OperationalError:
                    pass

            async with trio.open_nursery() as nursery:
                for i in range(20):
                    nursery.start_soon(put, i)
            for mid in ok:
                assert await store.get_mt(mid) is not None
