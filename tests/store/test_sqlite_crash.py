"""Crash safety of the SQLite store: SIGKILL a writing process at random moments.

Every enqueue whose call returned in the child (it printed the id afterwards) must be in the
database when it is opened again; messages leased but never acked come back once their lease
has passed (time is passed explicitly, so nothing waits for it).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from smppcore.store.base import MtState
from smppcore.store.sqlite import open_sqlite_store
from tests.store.sqlite_crash_child import CONNECTOR, HASH_SECRET, LEASE_AT, LEASE_SECONDS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 4


async def _run_child_and_kill(db: Path, tag: str, rng: random.Random) -> list[str]:
    """Start the child, let it write for a random moment, SIGKILL it; its complete lines."""
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "tests.store.sqlite_crash_child", str(db), tag],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    buf = b""
    try:
        while b"ready\n" not in buf:
            chunk = await proc.stdout.receive_some(65536)
            assert chunk, "the child exited before it was ready"
            buf += chunk
        with trio.move_on_after(rng.uniform(0.2, 1.2)):
            while True:
                chunk = await proc.stdout.receive_some(65536)
                assert chunk, "the child exited on its own"
                buf += chunk
    finally:
        proc.send_signal(signal.SIGKILL)
    # What it wrote before dying is still in the pipe.
    while chunk := await proc.stdout.receive_some(65536):
        buf += chunk
    assert await proc.wait() == -signal.SIGKILL
    complete = buf[: buf.rfind(b"\n") + 1].decode()
    return [line for line in complete.splitlines() if line != "ready"]


async def test_sigkill_loses_no_returned_enqueue_and_leases_come_back(tmp_path: Path) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    db = tmp_path / "crash.db"
    enqueued: set[str] = set()
    leased: set[str] = set()
    with trio.fail_after(90):
        for round_no in range(ROUNDS):
            lines = await _run_child_and_kill(db, f"r{round_no}", rng)
            new_e = {line[2:] for line in lines if line.startswith("E ")}
            new_l = {line[2:] for line in lines if line.startswith("L ")}
            assert new_e, f"seed {seed}: the child enqueued nothing"
            enqueued |= new_e
            async with open_sqlite_store(db, hash_secret=HASH_SECRET) as store:
                for mid in sorted(enqueued):
                    assert await store.get_mt(mid) is not None, f"seed {seed}: lost {mid}"
                for mid in new_l:
                    m = await store.get_mt(mid)
                    assert m is not None
                    assert m.state is MtState.LEASED, f"seed {seed}"
                # Not before the lease ends...
                early = await store.lease_mt(CONNECTOR, 1_000_000, 5.0, LEASE_AT + 1)
                assert not {m.id for m in early} & new_l, f"seed {seed}"
                # ...but once it has, every leased-not-acked message is back.
                after = LEASE_AT + LEASE_SECONDS + 1
                back = await store.lease_mt(CONNECTOR, 1_000_000, 3600.0, after)
                back_ids = {m.id for m in back}
                for mid in new_l:
                    assert mid in back_ids, f"seed {seed}: {mid} did not come back"
            leased |= new_l
            print(f"round {round_no}: {len(new_e)} enqueued, {len(new_l)} leased")
        assert leased, f"seed {seed}: no round leased anything"
