"""The SQLite engine under ``SqliteStore``: one group-committing writer and a reader pool.

Writes: callers put a request on a bounded memory channel and wait for its event. One trio
task takes whatever requests are waiting (up to ``batch_max``), runs them all in ONE worker
thread call inside ONE transaction (each under its own savepoint, so one failing request
does not undo the others), commits once and wakes every waiter. Under load many writes share
each fsync (group commit); an idle store commits a lone write at once.

Reads: a small pool of read connections, one per worker thread at a time (connections are
opened with ``check_same_thread=False`` and only ever used by one thread at once, handed
out under a semaphore). WAL lets them read while the writer writes.

Quick reads: :meth:`SqliteEngine.read_quick` runs a small indexed point lookup
(``is_suppressed``, and ``match_receipt``: one receipt's id map joined to its message; the
submit_sm path itself checks consent inside its enqueue request) on
one more read connection directly on the trio thread. A thread hop costs far more than such
a lookup (measured: ~250 µs of CPU per submit through the pool, mostly GIL hand-offs and
wake-ups, against ~25-40 µs inline under load, ~5 µs of it SQLite). WAL readers do not
wait for the writer, and this connection has no busy timeout: if SQLite ever reports it busy
or locked (WAL recovery, a checkpoint in a rare state) the read is retried through the pool,
so the event loop is never parked on a lock. The only other wait is a page that is not in
the OS cache, which for a hot, small index is rare and short.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

import attrs
import trio

from smppcore.store.base import StoreClosedError
from smppcore.store.sqlite_schema import configure, migrate

__all__ = ["EngineStatistics", "SqliteEngine", "StoreClosedError"]

T = TypeVar("T")

#: The oldest SQLite the store's statements run on (``UPDATE ... FROM`` and ``RETURNING``).
MIN_SQLITE: Final = (3, 35, 0)

WriteFn = Callable[[sqlite3.Connection], T]


@attrs.frozen
class EngineStatistics:
    commits: int
    writes: int
    largest_batch: int


@attrs.define(eq=False)
class _Request(Generic[T]):
    fn: Callable[[sqlite3.Connection], T]
    transactional: bool = True
    # Set for plain row statements: ``(sql, rows)`` pairs. A run of consecutive such requests
    # is executed as one ``executemany`` per distinct statement, in first-seen order (``fn``
    # does the same for one request alone).
    parts: list[tuple[str, list[tuple[Any, ...]]]] | None = None
    done: trio.Event = attrs.field(factory=trio.Event)
    result: Any = None
    error: BaseException | None = None


def _connect(path: str, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    configure(conn, synchronous=synchronous)
    return conn


class SqliteEngine:
    """Owns the connections; ``run_writer`` must run in a nursery for writes to proceed."""

    def __init__(
        self,
        writer: sqlite3.Connection,
        readers: list[sqlite3.Connection],
        batch_max: int,
        quick: sqlite3.Connection | None = None,
    ) -> None:
        self._writer = writer
        self._quick = quick
        self._free_readers = readers
        self._all_readers = list(readers)
        self._reader_slots = trio.Semaphore(len(readers))
        self._batch_max = batch_max
        self._send, self._recv = trio.open_memory_channel[_Request[Any]](batch_max * 4)
        self._commits = 0
        self._writes = 0
        self._largest = 0

    @classmethod
    def open_blocking(
        cls, path: str | os.PathLike[str], *, batch_max: int, synchronous: str, readers: int
    ) -> SqliteEngine:
        """Open (and migrate) the database; blocking, run it in a worker thread."""
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"unsupported synchronous mode {synchronous!r}")
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise RuntimeError(
                f"SQLite {sqlite3.sqlite_version} is too old: the store needs"
                f" {'.'.join(map(str, MIN_SQLITE))} or newer (UPDATE ... FROM, RETURNING)"
            )
        name = os.fspath(path)
        writer = _connect(name, synchronous)
        try:
            migrate(writer, time.time())
            pool = [_connect(name, synchronous) for _ in range(readers)]
            quick = _connect(name, synchronous)
            quick.execute("PRAGMA busy_timeout=0")
        except BaseException:
            writer.close()
            raise
        return cls(writer, pool, max(1, batch_max), quick)

    def close_blocking(self) -> None:
        for conn in self._all_readers:
            conn.close()
        quick, self._quick = self._quick, None  # read_quick falls back to the pool from now
        if quick is not None:
            quick.close()
        self._writer.close()

    def statistics(self) -> EngineStatistics:
        return EngineStatistics(self._commits, self._writes, self._largest)

    # --- writes ---------------------------------------------------------------------------

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in the writer's next group-commit transaction; return once committed.

        If the caller is cancelled after the request was handed over, the write may still be
        committed."""
        return await self._submit(_Request(fn))

    async def write_rows(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """``executemany(sql, rows)`` in the next group commit, merged with neighbouring
        requests of the same statement into one call."""
        await self.write_parts([(sql, rows)])

    async def write_parts(self, parts: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        """Several ``executemany(sql, rows)`` in ONE request: all in the same transaction (so
        they become durable together), merged with neighbouring row requests per statement.

        Statements of neighbouring requests may run in a different order than they were
        submitted (grouped by statement), so only independent row writes belong here (inserts
        of new rows, upserts, updates of one row by key); within one request, the first
        statement seen runs first."""

        def run(conn: sqlite3.Connection) -> None:
            for sql, rows in parts:
                conn.executemany(sql, rows)

        await self._submit(_Request(run, parts=parts))

    async def write_outside_transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on the writer connection between transactions (checkpoints, vacuum)."""
        return await self._submit(_Request(fn, transactional=False))

    async def _submit(self, request: _Request[T]) -> T:
        try:
            try:
                # The wait below is the checkpoint; a second one here would cost a task switch
                # per write.
                self._send.send_nowait(request)
            except trio.WouldBlock:
                await self._send.send(request)  # the writer is behind: back-pressure
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise StoreClosedError("the store is closed") from None
        await request.done.wait()
        if request.error is not None:
            raise request.error
        result: T = request.result
        return result

    async def close_writes(self) -> None:
        """No new writes; the writer finishes what is queued and returns."""
        await self._send.aclose()

    async def run_writer(self) -> None:
        try:
            await self._write_batches()
        finally:
            # Cancelled or failed: whoever still waits must not wait forever. (No checkpoint
            # between the drain and the close, so nothing slips in between.)
            while True:
                try:
                    request = self._recv.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                    break
                request.error = StoreClosedError("the store closed before this write ran")
                request.done.set()
            self._recv.close()

    async def _write_batches(self) -> None:
        async for first in self._recv:
            batch = [first]
            while len(batch) < self._batch_max:
                try:
                    batch.append(self._recv.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            try:
                await trio.to_thread.run_sync(self._run_batch, batch)
            except Exception as exc:  # a bug in the batch runner: fail the batch loudly
                for request in batch:
                    request.error = request.error or exc
                raise
            finally:
                # The thread call is not abandoned on cancellation, so every request has
                # its outcome recorded by now.
                for request in batch:
                    request.done.set()
            self._writes += len(batch)
            self._largest = max(self._largest, len(batch))

    def _run_batch(self, batch: list[_Request[Any]]) -> None:
        segment: list[_Request[Any]] = []  # consecutive transactional requests
        for request in batch:
            if request.transactional:
                segment.append(request)
                continue
            self._run_segment(segment)
            segment = []
            try:
                request.result = request.fn(self._writer)
            except Exception as exc:
                request.error = exc
        self._run_segment(segment)

    def _run_segment(self, segment: list[_Request[Any]]) -> None:
        """One transaction for all of ``segment``. Fast path without savepoints; if any
        request fails, roll back and run them again, each under its own savepoint, so the
        failure stays with the request that caused it (requests are deterministic functions
        of the database state, so running one again is safe)."""
        if not segment:
            return
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")
        except Exception as exc:
            for request in segment:
                request.error = exc
            return
        try:
            i = 0
            while i < len(segment):
                request = segment[i]
                i += 1
                if request.parts is None:
                    request.result = request.fn(conn)
                    continue
                groups: dict[str, list[tuple[Any, ...]]] = {}
                for sql, rows in request.parts:
                    groups.setdefault(sql, []).extend(rows)
                while i < len(segment) and segment[i].parts is not None:
                    for sql, rows in segment[i].parts or ():
                        groups.setdefault(sql, []).extend(rows)
                    i += 1
                for sql, rows in groups.items():
                    conn.executemany(sql, rows)
        except Exception:
            if conn.in_transaction:  # some errors (disk full, I/O) already rolled it back
                conn.execute("ROLLBACK")
            for request in segment:
                request.result = None
            self._run_isolated(segment)
            return
        self._commit(segment)

    def _run_isolated(self, segment: list[_Request[Any]]) -> None:
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")
        except Exception as exc:
            for request in segment:
                request.error = exc
            return
        for n, request in enumerate(segment):
            try:
                conn.execute("SAVEPOINT w")
                try:
                    request.result = request.fn(conn)
                except Exception as exc:
                    request.error = exc
                    if not conn.in_transaction:
                        # Its error (disk full, I/O) rolled back the whole transaction: the
                        # requests before it are lost too and must not report success.
                        for earlier in segment[:n]:
                            earlier.result = None
                            earlier.error = earlier.error or exc
                        conn.execute("BEGIN IMMEDIATE")
                        continue
                    conn.execute("ROLLBACK TO w")
                conn.execute("RELEASE w")
            except Exception as exc:  # the savepoint machinery itself failed
                request.error = request.error or exc
        self._commit(segment)

    def _commit(self, pending: list[_Request[Any]]) -> None:
        if not pending:
            return
        try:
            self._writer.execute("COMMIT")
            self._commits += 1
        except Exception as exc:
            try:
                self._writer.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            for request in pending:
                request.result = None
                request.error = request.error or exc

    # --- reads ----------------------------------------------------------------------------

    async def read_quick(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` (a short indexed lookup, nothing else) on the trio thread; through the
        pool instead if SQLite reports the quick connection busy. See the module docstring."""
        conn = self._quick
        if conn is not None:
            try:
                return fn(conn)
            except sqlite3.OperationalError:
                pass  # busy/locked, or a real error that the pooled read reports again
        return await self.read(fn)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on a read connection in a worker thread."""
        async with self._reader_slots:
            conn = self._free_readers.pop()
            try:
                return await trio.to_thread.run_sync(fn, conn)
            finally:
                self._free_readers.append(conn)
