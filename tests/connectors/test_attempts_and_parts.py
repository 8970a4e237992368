"""What an attempt is, and per-part progress of long messages.

An attempt is a submit that reached the operator and failed; a message that only waited
behind a failing one to the same number is not attempted. A long message whose part fails
transiently is retried from that part: the parts the operator accepted are never sent again.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import trio

from smppcore.net.server import listener_port, serve_smpp
from smppcore.net.testing import SmscResponder
from smppcore.protocol.enums import CommandStatus
from smppcore.protocol.gsm7 import decode_gsm7, encode_gsm7
from smppcore.protocol.pdu import Pdu, SubmitSm
from smppcore.protocol.receipt import normalise_message_id
from smppcore.store.base import MtState

from .helpers import (
    NAME,
    RecordingSink,
    connector_config,
    message,
    now,
    open_store,
    running_connector,
    wait_for,
    wait_settled,
)


@attrs.define
class _CountingSmsc(SmscResponder):
    """Answers every submit of a text in ``failing`` with ESME_RSYSERR (transient), every
    other one OK; ``part_failures[n]`` submits of part ``n`` of a concatenated message fail
    first. Counts the submits of each text (or part) it saw."""

    failing: set[str] = attrs.field(factory=set)
    part_failures: dict[int, int] = attrs.field(factory=dict)
    seen: dict[str, int] = attrs.field(factory=dict)
    accepted_parts: list[int] = attrs.field(factory=list)

    def answer(self, request: Pdu) -> Pdu | None:
        if isinstance(request, SubmitSm):
            if request.esm_class & 0x40:
                part = request.short_message[5]
                key = f"part {part}"
                self.seen[key] = self.seen.get(key, 0) + 1
                if self.part_failures.get(part, 0) > 0:
                    self.part_failures[part] -= 1
                    return request.response(command_status=CommandStatus.ESME_RSYSERR)
                self.accepted_parts.append(part)
            else:
                text = decode_gsm7(request.short_message)
                self.seen[text] = self.seen.get(text, 0) + 1
                if text in self.failing:
                    return request.response(command_status=CommandStatus.ESME_RSYSERR)
        return super().answer(request)


async def test_only_failed_submits_count_as_attempts(tmp_path: Path) -> None:
    """One message fails every time; the ones behind it to the same number wait and then
    go. The failing one is given up after exactly ``max_attempts`` submits; none of the
    others is failed, and none has an attempt it did not make."""
    sink = RecordingSink()
    smsc = _CountingSmsc(failing={"bad"})
    dest = "447700907001"
    with trio.fail_after(30):
        async with open_store(tmp_path) as store, trio.open_nursery() as nursery:
            port = listener_port(await nursery.start(serve_smpp, smsc, "127.0.0.1", 0))
            t0 = now()
            bad = message(0, dest, "bad", t0=t0)
            behind = [message(i, dest, f"ok {i}", t0=t0) for i in range(1, 10)]
            await store.enqueue_mt([bad, *behind])
            config = connector_config([port], options={"max_attempts": 3})
            async with running_connector(config, store, sink):
                settled = await wait_settled(store, [m.id for m in [bad, *behind]])
            nursery.cancel_scope.cancel()
    assert smsc.seen["bad"] == 3
    assert settled[bad.id].state is MtState.UNDELIVERABLE
    assert settled[bad.id].error_code == CommandStatus.ESME_RSYSERR
    assert sink.finals == [(bad.id, MtState.UNDELIVERABLE, int(CommandStatus.ESME_RSYSERR))]
    for m in behind:
        assert settled[m.id].state is MtState.ENROUTE
        assert settled[m.id].attempts == 0
        assert smsc.seen[f"ok {m.id[-1]}"] == 1


async def test_a_retry_sends_only_the_parts_not_yet_accepted(tmp_path: Path) -> None:
    """Part 2 of 3 fails twice (transient): the operator sees part 1 once, part 2 three
    times (two refused), part 3 once; each accepted part has its own id map."""
    sink = RecordingSink()
    smsc = _CountingSmsc(part_failures={2: 2})
    text = "".join(f"{i % 10}" for i in range(400))  # 3 parts of 153 septets
    with trio.fail_after(30):
        async with open_store(tmp_path) as store, trio.open_nursery() as nursery:
            port = listener_port(await nursery.start(serve_smpp, smsc, "127.0.0.1", 0))
            long = message(0, "447700907002", "", t0=now(), payload=encode_gsm7(text))
            await store.enqueue_mt([long])
            async with running_connector(connector_config([port]), store, sink) as connector:
                settled = await wait_settled(store, [long.id])
                assert connector.stats.nacked == 2
            nursery.cancel_scope.cancel()
            final = settled[long.id]
            assert (final.state, final.attempts, final.parts_accepted) == (
                MtState.ENROUTE, 2, 2,
            )  # fmt: skip
            assert smsc.seen == {"part 1": 1, "part 2": 3, "part 3": 1}
            assert smsc.accepted_parts == [1, 2, 3]
            # Every accepted part maps back to the message, whichever lease sent it (the
            # responder numbers accepted submits 1, 2, 3 in order).
            assert {e.segment for e in sink.submitted_maps} == {2, 3}  # the last lease's
            for segment in (1, 2, 3):
                entry = await store.get_id_map(NAME, normalise_message_id(f"{segment:x}"))
                assert entry is not None
                assert (entry.message_id, entry.segment, entry.total_segments) == (
                    long.id, segment, 3,
                )  # fmt: skip


async def test_a_stopping_connector_gives_back_what_it_never_sent(tmp_path: Path) -> None:
    """Leased messages still waiting for a token when the connector stops go back to the
    queue at once (no attempt counted), rather than waiting out their lease."""
    sink = RecordingSink()
    smsc = _CountingSmsc()
    n = 40
    with trio.fail_after(30):
        async with open_store(tmp_path) as store, trio.open_nursery() as nursery:
            port = listener_port(await nursery.start(serve_smpp, smsc, "127.0.0.1", 0))
            t0 = now()
            msgs = [message(i, f"4477014{i:05d}", f"s {i}", t0=t0) for i in range(n)]
            await store.enqueue_mt(msgs)
            config = connector_config([port], throughput=20.0, burst=1)
            async with running_connector(config, store, sink) as connector:
                sent = lambda: sum(smsc.seen.values())  # noqa: E731
                await wait_for(lambda: connector.worker.leased + sent() >= n and sent() >= 3)
            stored = [await store.get_mt(m.id) for m in msgs]
            nursery.cancel_scope.cancel()
    states = [m.state for m in stored if m is not None]
    sent = sum(smsc.seen.values())
    assert states.count(MtState.ENROUTE) == sent
    assert states.count(MtState.LEASED) == 0
    assert states.count(MtState.QUEUED) == n - sent
    assert all(m.attempts == 0 for m in stored if m is not None)
