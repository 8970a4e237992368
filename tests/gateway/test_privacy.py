"""Erasure and export by MSISDN over everything the return path stores."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio

from smppcore.gateway.privacy import (
    erase_msisdn,
    export_msisdn,
    list_optouts,
    record_opt_in,
    record_opt_out,
)
from smppcore.gateway.returnpath import ReturnPath
from smppcore.protocol.segment import build_concat_udh
from smppcore.store.base import Conversation

from .test_receipts import operator_receipt
from .test_replies import mo
from .test_return_harness import (
    BACKENDS,
    backend_prefix_fixture,  # noqa: F401 - the backend_prefix fixture
    deliver,
    make_config,
    put_message,
    running_gateway,
)

HANDSET = "27821234567"
TRACES = ("821234567",)  # the national significant number, in any written form


async def _traffic(sink: ReturnPath) -> None:
    gw = sink.gateway
    now = gw.clock()
    await put_message(gw, "m1", destination=HANDSET, upstream_ids=["41"])
    await gw.store.put_conversations([Conversation("27600000001", HANDSET, "alpha", now, now + 60)])
    assert await deliver(sink, operator_receipt("41")) == 0  # receipt queued
    assert await deliver(sink, operator_receipt("42")) == 0  # pending (holds no number)
    assert await deliver(sink, mo(b"STOP")) == 0  # suppression + audit
    part = mo(build_concat_udh(3, 2, 1) + b"first half", esm_class=0x40)
    assert await deliver(sink, part) == 0  # a stored part
    assert len(await gw.store.reply_parts()) == 1


def _rows_mentioning(db: Path, needle: str) -> list[tuple[str, tuple[object, ...]]]:
    found = []
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    if needle in text:
                        found.append((table, row))
    return found


def _redis_mentioning(prefix: str, needle: str) -> list[str]:
    import redis

    from .test_return_harness import REDIS_URL

    client: Any = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    found = []
    try:
        for key in client.scan_iter(match=prefix + "*", count=500):
            kind = client.type(key).decode()
            value: object = b""
            if kind == "string":
                value = client.get(key)
            elif kind == "hash":
                value = client.hgetall(key)
            elif kind == "list":
                value = client.lrange(key, 0, -1)
            elif kind == "set":
                value = client.smembers(key)
            elif kind == "zset":
                value = client.zrange(key, 0, -1, withscores=True)
            elif kind == "stream":
                value = client.xrange(key)
            if needle.encode() in key or needle in repr(value):
                found.append(key.decode("latin-1"))
    finally:
        client.close()
    return found


def _files_mentioning(directory: Path, needle: str) -> list[Path]:
    return [f for f in directory.glob("gw.db*") if needle.encode() in f.read_bytes()]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_export_lists_every_record_then_erase_leaves_no_trace(
    tmp_path: Path, backend: str, backend_prefix: str | None
) -> None:
    config = make_config(tmp_path)
    db = tmp_path / "gw.db"
    with trio.fail_after(30):
        async with running_gateway(
            config, db, deliveries=False, redis_prefix=backend_prefix
        ) as run:
            await _traffic(run.return_path)
            exported = await export_msisdn(run.gateway.store, "+27 82 123 4567")
            kinds = ("mt_messages", "id_maps", "conversations", "delivery_items", "reply_parts")
            for kind in kinds:
                assert exported[kind], kind
            assert exported["suppressions"] and exported["audit"]
            counts = await erase_msisdn(run.gateway.store, "0027821234567", run.gateway.clock())
            assert counts["mt_messages"] == 1 and counts["delivery_items"] == 2
            assert counts["reply_parts"] == 1
            # the hashed opt-out survives erasure, so the handset stays protected
            assert await run.gateway.store.is_suppressed(["27600000001"], HANDSET)
            after = await export_msisdn(run.gateway.store, HANDSET)
            assert not any(after[k] for k in kinds)
            actions = [e.action for e in await run.gateway.store.list_audit()]
            assert "erase" in actions
    for needle in TRACES:
        if backend_prefix is None:
            assert _rows_mentioning(db, needle) == []
            assert _files_mentioning(tmp_path, needle) == []  # free pages and the WAL too
        else:
            assert await trio.to_thread.run_sync(_redis_mentioning, backend_prefix, needle) == []


async def test_optout_helpers_audit_without_numbers(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", deliveries=False) as run:
            store = run.gateway.store
            now = run.gateway.clock()
            assert await record_opt_out(store, "alpha", HANDSET, "CLI", now, source="cli")
            assert not await record_opt_out(store, "alpha", HANDSET, "CLI", now, source="cli")
            listed = await list_optouts(store)
            assert len(listed) == 1 and listed[0]["keyword"] == "CLI"
            assert HANDSET not in repr(listed)
            assert await record_opt_in(store, ["alpha", "27600000001"], HANDSET, "CLI", now) == 1
            assert await list_optouts(store) == []
            events = await store.list_audit()
            assert [e.action for e in events].count("optin") == 2
            assert all(HANDSET not in repr(e) for e in events)


async def test_temporary_account_keeps_replies_at_most_a_day(tmp_path: Path) -> None:
    from .test_return_harness import account

    config = make_config(
        tmp_path, [account("alpha", "27600000001"), account("temp", "27600000002", temporary=True)]
    )
    with trio.fail_after(30):
        async with running_gateway(config, tmp_path / "gw.db", deliveries=False) as run:
            gw = run.gateway
            sink = run.return_path
            before = gw.clock()
            await deliver(sink, mo(b"a", dest="27600000001"))
            await deliver(sink, mo(b"b", dest="27600000002"))
            (kept,) = await gw.store.lease_delivery("alpha", 5, 5, gw.clock())
            (temp,) = await gw.store.lease_delivery("temp", 5, 5, gw.clock())
            hour = 3600.0
            assert kept.expires_at >= before + 72 * hour  # delivery_hours
            assert before + 23 * hour < temp.expires_at <= gw.clock() + 24 * hour
