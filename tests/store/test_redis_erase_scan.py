"""After ``erase(msisdn)`` the number is nowhere in Redis (needs Redis; see redis_support).

The test fills every kind of structure the store keeps (messages in each queue stage and in
final states, segment states, id maps, conversations, delivery items of both kinds, opt-outs,
audit), then erases one number and SCANs every key of its prefix: key names and every value
of every type (string, hash, set, zset, list, stream) must hold the number in none of its
written forms. The other number's records must survive, so an over-eager erase also fails.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from smppcore.store.base import (
    AuditEvent,
    Conversation,
    DeliveryItem,
    DeliveryKind,
    IdMapEntry,
    MtAck,
    MtFinal,
    MtMessage,
    MtState,
    ReplyPart,
)
from smppcore.store.redis import RedisStore, open_redis_store
from tests.store.redis_support import (
    HASH_SECRET,
    REDIS_MARKS,
    REDIS_URL,
    cleaned,
    new_prefix,
    require_redis,
    sync_client,
)

pytestmark = REDIS_MARKS

T0 = 1_800_000_000.0
NUMBER = "27611122233"
FORMS = (NUMBER, "+" + NUMBER, "00" + NUMBER)
OTHER = "27644455566"
SHORT = "31337"


def _values(client: Any, key: bytes) -> list[bytes]:
    """Every byte string stored under ``key``, whatever its type."""
    kind = client.type(key)
    if kind == b"string":
        return [client.get(key)]
    if kind == b"hash":
        return [b for kv in client.hgetall(key).items() for b in kv]
    if kind == b"set":
        return list(client.smembers(key))
    if kind == b"zset":
        return [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
    if kind == b"list":
        return list(client.lrange(key, 0, -1))
    if kind == b"stream":
        return [b for _, fields in client.xrange(key) for kv in fields.items() for b in kv]
    if kind == b"none":  # expired/deleted between SCAN and TYPE
        return []
    raise AssertionError(f"unexpected Redis type {kind!r}")


def mentions(prefix: str) -> list[str]:
    """Blocking: every key whose name or value holds the number in any form."""
    needles = [f.encode() for f in FORMS]
    found = []
    with sync_client() as client:
        for key in client.scan_iter(match=prefix + "*", count=500):
            blobs = [key, *_values(client, key)]
            if any(n in blob for blob in blobs for n in needles):
                found.append(key.decode(errors="replace"))
    return found


def _mt(mid: str, source: str, dest: str, **kw: Any) -> MtMessage:
    return MtMessage(
        id=mid,
        account="acme",
        connector="up1",
        source_addr=source,
        destination_addr=dest,
        payload=f"hello {mid}".encode(),
        submitted_at=T0,
        **kw,
    )


async def _populate(store: RedisStore) -> None:
    plus, bare, zeros = "+" + NUMBER, NUMBER, "00" + NUMBER
    await store.enqueue_mt(
        [
            _mt("queued", SHORT, plus, priority=2),
            _mt("scheduled", SHORT, bare, not_before=T0 + 3600, validity_until=T0 + 7200),
            _mt("leased", SHORT, zeros),
            _mt("acked", SHORT, plus, expires_at=T0 + 86400),
            _mt("retry", SHORT, bare),
            _mt("from-number", zeros, OTHER, segment_states={1: 2}),
            _mt("other", SHORT, OTHER),
        ]
    )
    leased = await store.lease_mt("up1", 10, 30.0, T0)
    assert {m.id for m in leased} == {"queued", "leased", "acked", "retry", "from-number", "other"}
    await store.ack_mt([MtAck("acked")])
    await store.finalise_mt([MtFinal("acked", MtState.DELIVERED, T0 + 1)])
    await store.nack_mt("retry", T0 + 60, 0x58)
    await store.ack_mt([MtAck("other")])
    await store.record_segment("leased", 1, MtState.DELIVERED)
    await store.put_id_maps(
        [
            IdMapEntry("up1", "UP-1", "acked", "acme", expires_at=T0 + 86400),
            IdMapEntry("up1", "UP-2", "leased", "acme", 1, 2, expires_at=T0 + 86400),
            IdMapEntry("up1", "UP-3", "other", "acme", expires_at=T0 + 86400),
        ]
    )
    await store.put_conversations(
        [
            Conversation(SHORT, plus, "acme", T0, T0 + 86400),
            Conversation(bare, SHORT, "acme", T0, T0 + 86400),
            Conversation(SHORT, OTHER, "acme", T0, T0 + 86400),
        ]
    )
    await store.enqueue_delivery(
        [
            DeliveryItem("mo", "acme", DeliveryKind.MO, zeros, SHORT, short_message=b"STOP"),
            DeliveryItem("dlr", "acme", DeliveryKind.RECEIPT, SHORT, SHORT, message_id="acked"),
            DeliveryItem("mo-later", "acme", DeliveryKind.MO, plus, SHORT, not_before=T0 + 99),
            DeliveryItem("mo-other", "acme", DeliveryKind.MO, OTHER, SHORT, short_message=b"hi"),
        ]
    )
    assert [d.id for d in await store.lease_delivery("acme", 1, 30.0, T0, "node-1")] == ["mo"]
    await store.put_reply_parts(
        [
            ReplyPart("part-key", 1, "up1", plus, SHORT, short_message=b"first half"),
            ReplyPart("other-key", 1, "up1", OTHER, SHORT, short_message=b"not mine"),
        ]
    )
    await store.add_suppression(SHORT, plus, "STOP", T0)
    await store.add_suppression("acme", bare, "STOP", T0)
    await store.append_audit(
        AuditEvent(T0, "optout", store.hash_msisdn(NUMBER), store.hash_msisdn(SHORT), "STOP")
    )


async def test_erase_leaves_the_number_in_no_key_and_no_value() -> None:
    require_redis()
    async with cleaned(new_prefix("erase-scan")) as prefix:
        with trio.fail_after(20):
            async with open_redis_store(
                REDIS_URL, hash_secret=HASH_SECRET, key_prefix=prefix
            ) as store:
                await _populate(store)
                before = await trio.to_thread.run_sync(mentions, prefix)
                assert before, "the scan must see the number before the erase"

                counts = await store.erase("+" + NUMBER, T0 + 10)
                assert counts == {
                    "mt_messages": 6,
                    "id_maps": 2,
                    "conversations": 2,
                    "delivery_items": 3,
                    "reply_parts": 1,
                }
                after = await trio.to_thread.run_sync(mentions, prefix)
                assert after == [], f"the number survives the erase in {after}"

                # What does not mention the number is still there and still works.
                assert await store.get_mt("other") is not None
                assert await store.get_id_map("up1", "UP-3") is not None
                assert await store.get_conversation(SHORT, OTHER) is not None
                assert [d.id for d in await store.lease_delivery("acme", 9, 30.0, T0)] == [
                    "mo-other"
                ]
                assert await store.is_suppressed([SHORT], NUMBER)
                assert await store.is_suppressed(["acme"], NUMBER)
                assert await store.count_queued("acme") == 0
                assert await store.queue_depth("up1") == 0
                left = await store.export(NUMBER)
                for data_class in (
                    "mt_messages", "id_maps", "conversations", "delivery_items", "reply_parts",
                ):  # fmt: skip
                    assert left[data_class] == [], data_class
                assert [p.message_key for p in await store.reply_parts()] == ["other-key"]
                assert [a["action"] for a in left["audit"]] == ["optout", "erase"]


@pytest.mark.parametrize("written", FORMS)
async def test_every_written_form_erases_the_same_records(written: str) -> None:
    require_redis()
    async with cleaned(new_prefix("erase-form")) as prefix:
        with trio.fail_after(20):
            async with open_redis_store(
                REDIS_URL, hash_secret=HASH_SECRET, key_prefix=prefix
            ) as store:
                await _populate(store)
                counts = await store.erase(written, T0 + 10)
                assert counts["mt_messages"] == 6
                assert await trio.to_thread.run_sync(mentions, prefix) == []
