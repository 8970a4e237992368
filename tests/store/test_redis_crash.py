"""Crash safety of the Redis store across processes (needs Redis; see redis_support).

Producers are SIGKILLed at random moments: every enqueue that returned must be found by a
consumer. A consumer is SIGKILLed holding leases: once the lease has expired (time is passed
explicitly, so no waiting), its messages come back and two concurrent surviving consumers
lease every message exactly once between them.
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

from tests.store.redis_support import REDIS_MARKS, cleaned, new_prefix, require_redis

pytestmark = [*REDIS_MARKS, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 4
T_LEASE = 1_800_000_000.0  # the killed consumer leases at this time, for 60 s
T_AFTER = T_LEASE + 120.0  # the survivors lease after that lease expired


class Child:
    """A child process whose stdout lines we read as they come."""

    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        self._buf = b""

    async def line(self) -> str | None:
        """The next complete line, or None at end of output."""
        assert self.proc.stdout is not None
        while b"\n" not in self._buf:
            chunk = await self.proc.stdout.receive_some(65536)
            if not chunk:
                return None  # a partial last line was never fully written: ignore it
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    async def lines_until_eof(self) -> list[str]:
        out = []
        while (line := await self.line()) is not None:
            out.append(line)
        return out

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)


async def start(role: str, prefix: str, now: float, limit: int = 0) -> Child:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await trio.lowlevel.open_process(
        [
            sys.executable,
            "-m",
            "tests.store.redis_crash_child",
            role,
            prefix,
            repr(now),
            str(limit),
        ],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    return Child(proc)


async def test_killed_producers_and_consumer_lose_nothing_and_never_double_lease() -> None:
    require_redis()
    seed = random.randrange(2**32)
    rnd = random.Random(seed)
    async with cleaned(new_prefix("crash")) as prefix:
        with trio.fail_after(60):
            acknowledged: set[str] = set()
            for round_no in range(ROUNDS):
                producer = await start("produce", prefix, float(round_no))
                for _ in range(rnd.randint(1, 40)):
                    line = await producer.line()
                    assert line is not None, f"producer died early (seed {seed})"
                    acknowledged.update(line.split())
                await trio.sleep(rnd.uniform(0, 0.02))
                producer.kill()
                for line in await producer.lines_until_eof():
                    acknowledged.update(line.split())
                await producer.proc.wait()
                assert producer.proc.returncode == -signal.SIGKILL

            victim = await start("lease-and-hang", prefix, T_LEASE, rnd.randint(1, 30))
            held: set[str] = set()
            while (line := await victim.line()) != "leased":
                assert line is not None, f"consumer died early (seed {seed})"
                mid, attempts = line.split()
                assert attempts == "0"  # a lease is not an attempt
                held.add(mid)
            assert held, "the consumer leased nothing"
            victim.kill()
            await victim.proc.wait()

            survivors = [await start("drain", prefix, T_AFTER, rnd.randint(1, 7)) for _ in range(2)]
            leased: list[list[tuple[str, int]]] = []
            for child in survivors:
                lines = await child.lines_until_eof()
                await child.proc.wait()
                assert child.proc.returncode == 0 and lines[-1:] == ["done"], (seed, lines[-3:])
                leased.append([(m, int(a)) for m, a in (ln.split() for ln in lines[:-1])])

    first, second = ({m for m, _ in got} for got in leased)
    all_ids = [m for got in leased for m, _ in got]
    assert len(all_ids) == len(set(all_ids)), f"a message was leased twice (seed {seed})"
    assert not first & second, f"both consumers leased {first & second} (seed {seed})"
    missing = acknowledged - (first | second)
    assert not missing, f"acknowledged enqueues lost: {sorted(missing)[:5]} (seed {seed})"
    assert held <= first | second, f"leases of the killed consumer not reclaimed (seed {seed})"
    assert all(n == 0 for got in leased for _, n in got), "a lease counted as an attempt"
