"""Correlation of operator receipts: which message a receipt is about, and what follows.

Owns :class:`ReceiptHandler`: a batch of operator receipts in, durable effects out. Each
receipt's upstream id is looked up for its connector, by the keys the connector's
``id_format`` gives (:func:`~smppcore.protocol.receipt.receipt_id_keys`): first among the
maps the connectors made durable lately (kept in memory, bounded, under the normalised id the
connector stored; looked up by the id's normalised form for ``"auto"``, else by its one key),
else in the store (every key, best first, in one read); what matched is applied
(:meth:`ReceiptHandler.apply`), what did not is held by
:class:`~smppcore.gateway.pending.PendingReceipts`. Final receipts of a batch are finalised
together (:class:`~smppcore.gateway.finals.Finaliser`: one store request); the rules —
segments, receipt modes, intermediate notifications, duplicates — are those listed in
:mod:`smppcore.gateway.receipts`. A non-final receipt of a message not final yet is counted
here (``smppcore_receipts_total{source="operator"}``, once per receipt); finals are counted
by the finaliser, once per message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from smppcore.gateway.delivery import ClientDelivery, Outgoing
from smppcore.gateway.finals import Final, Finaliser
from smppcore.gateway.receipts import (
    OperatorConvention,
    OperatorReceipt,
    aggregate,
    client_receipt,
    wants_receipt,
)
from smppcore.protocol.enums import MessageState
from smppcore.protocol.receipt import normalise_message_id, receipt_id_keys
from smppcore.store.base import FinalResult, IdMapEntry, MtMessage, MtState, ReceiptMatch

if TYPE_CHECKING:
    from smppcore.gateway.context import Gateway

__all__ = ["ReceiptHandler"]


def _seg_tag(state: MessageState, segment: int) -> str:
    return f"{int(state)}s{segment}"


def _as_receipts_see_it(m: MtMessage) -> MtMessage:
    """``m`` with what receipt handling reads of it, and neither its text nor its TLVs
    (cheaper than ``attrs.evolve``, which inspects the class on every call)."""
    return MtMessage(
        id=m.id,
        account=m.account,
        connector=m.connector,
        source_addr=m.source_addr,
        destination_addr=m.destination_addr,
        source_addr_ton=m.source_addr_ton,
        source_addr_npi=m.source_addr_npi,
        dest_addr_ton=m.dest_addr_ton,
        dest_addr_npi=m.dest_addr_npi,
        registered_delivery=m.registered_delivery,
        submitted_at=m.submitted_at,
        expires_at=m.expires_at,
        state=MtState.ENROUTE,
    )


class _Recent:
    """Id maps of what the connectors submitted lately, by ``(connector, upstream id)``: most
    receipts follow their submit within seconds, so most are matched here, without a store
    read. Bounded by count and age; entries hold the message without its text, as submitted
    (ENROUTE): a state it has left since is found by the finaliser, which reads the store."""

    def __init__(self, max_entries: int, max_age: float) -> None:
        self._max_entries = max_entries
        self._max_age = max_age
        self._entries: dict[tuple[str, str], tuple[float, ReceiptMatch]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, message: MtMessage, id_maps: Sequence[IdMapEntry], now: float) -> None:
        if not id_maps or self._max_entries <= 0:
            return
        entries = self._entries
        bare = _as_receipts_see_it(message)
        for entry in id_maps:
            entries[(entry.connector, entry.upstream_id)] = (now, ReceiptMatch(entry, bare))
        # Oldest first (insertion order): drop what is too old or too many.
        horizon = now - self._max_age
        while entries:
            key = next(iter(entries))
            if len(entries) <= self._max_entries and entries[key][0] >= horizon:
                break
            del entries[key]

    def take(self, connector: str, upstream_id: str) -> ReceiptMatch | None:
        """The match of an upstream id, by its normalised form (forgotten here once taken)."""
        found = self._entries.pop((connector, normalise_message_id(upstream_id)), None)
        return found[1] if found is not None else None


class ReceiptHandler:
    """Correlates operator receipts with our messages and gets the client's receipts out.

    ``recent_entries``/``recent_seconds`` bound the in-memory maps of recent submits (0
    entries: every receipt is looked up in the store). Each configured connector's
    :class:`OperatorConvention` is read once (``[[connectors]]`` need a restart to change)."""

    def __init__(
        self,
        gateway: Gateway,
        delivery: ClientDelivery,
        finaliser: Finaliser,
        *,
        recent_entries: int = 20_000,
        recent_seconds: float = 300.0,
    ) -> None:
        self.gateway = gateway
        self._delivery = delivery
        self._finaliser = finaliser
        self._recent = _Recent(recent_entries, recent_seconds)
        self._conventions = {
            c.name: OperatorConvention(c.dlr_tzinfo, c.id_format) for c in gateway.config.connectors
        }
        self._default_convention = OperatorConvention()

    def convention(self, connector: str) -> OperatorConvention:
        """How ``connector``'s operator writes its receipts (the default for an unknown one)."""
        return self._conventions.get(connector, self._default_convention)

    def submitted(self, message: MtMessage, id_maps: Sequence[IdMapEntry]) -> None:
        """The connector had ``message`` accepted under ``id_maps`` (see ``DeliverSink``)."""
        self._recent.add(message, id_maps, self.gateway.clock())

    def _count(self, account: str, result: str, n: int = 1) -> None:
        self.gateway.metrics.deliveries.labels(account, "receipt", result).inc(n)

    def _client(
        self,
        message: MtMessage,
        receipt: OperatorReceipt,
        now: float,
        *,
        segment: int = 0,
        sub: int = 1,
        dlvrd: int | None = None,
    ) -> Outgoing:
        gateway = self.gateway
        return client_receipt(
            message,
            receipt.state,
            now=now,
            expires_at=gateway.expires_at(message.account, "delivery", now),
            err=receipt.err,
            done_at=receipt.done_at,
            sub=sub,
            dlvrd=dlvrd,
            tag=_seg_tag(receipt.state, segment),
            network_error_code=receipt.network_error_code,
            lease=self._delivery.claim(message.account, now),
        )

    async def match(
        self, connector: str, receipts: Sequence[OperatorReceipt]
    ) -> tuple[list[tuple[ReceiptMatch, OperatorReceipt]], list[OperatorReceipt]]:
        """Split ``receipts`` into those whose message was found (with it) and the rest."""
        store = self.gateway.store
        matched: list[tuple[ReceiptMatch, OperatorReceipt]] = []
        missing: list[OperatorReceipt] = []
        recent = self._recent
        id_format = self.convention(connector).id_format
        for receipt in receipts:
            found = None
            upstream = receipt.upstream_id
            keys = receipt_id_keys(upstream, id_format) if upstream else ()
            if upstream and keys:
                found = recent.take(connector, upstream if id_format == "auto" else keys[0])
                if found is None:
                    found = await store.match_receipt(connector, keys)
            if found is None:
                missing.append(receipt)
            else:
                matched.append((found, receipt))
        return matched, missing

    async def apply(self, matched: Sequence[tuple[ReceiptMatch, OperatorReceipt]]) -> None:
        """Record receipts whose message was found; durable (finals, the client's receipts)
        on return."""
        now = self.gateway.clock()
        finals: list[Final] = []
        forwards: list[Outgoing] = []
        for match, receipt in matched:
            message = match.message
            if match.entry.total_segments > 1:
                await self._segment(match, receipt, now)
            elif message.state.is_final:
                self._count(message.account, "duplicate")
            elif receipt.is_final:
                finals.append(
                    Final(
                        message,
                        receipt.state,
                        err=receipt.err,
                        done_at=receipt.done_at,
                        tag=_seg_tag(receipt.state, 0),
                        network_error_code=receipt.network_error_code,
                    )
                )
            else:
                self._intermediate(message, receipt)
                if wants_receipt(message.registered_delivery, receipt.state):
                    forwards.append(self._client(message, receipt, now))
        if forwards:
            await self._delivery.queue(forwards)
        if finals:
            results = await self._finaliser.finalise(finals, now)
            for final, result in zip(finals, results, strict=True):
                if result is FinalResult.FINALISED:
                    self._observe_latency(final.message, now)
                elif result is FinalResult.ALREADY_FINAL:
                    self._count(final.message.account, "duplicate")
                else:  # erased or purged since the look-up: nobody left to tell
                    self._count(final.message.account, "unmatched")

    async def _segment(self, match: ReceiptMatch, receipt: OperatorReceipt, now: float) -> None:
        message, entry = match.message, match.entry
        total, segment = entry.total_segments, entry.segment
        if message.state.is_final:
            self._count(message.account, "duplicate")
            return
        if not receipt.is_final:
            self._intermediate(message, receipt)
            if wants_receipt(message.registered_delivery, receipt.state):
                await self._delivery.queue([self._client(message, receipt, now, segment=segment)])
            return
        recorded = await self.gateway.store.record_segment(
            message.id, segment, MtState(int(receipt.state))
        )
        if recorded.repeated:
            self._count(message.account, "duplicate")
            return
        states = dict(recorded.states)
        whole = aggregate(states, total)
        delivered = sum(1 for s in states.values() if s == MessageState.DELIVERED)
        runtime = self.gateway.directory.get(message.account)
        each = runtime is not None and runtime.receipt_mode == "each_segment"
        if whole is None:
            if each and wants_receipt(message.registered_delivery, receipt.state):
                out = self._client(
                    message, receipt, now, segment=segment, sub=total, dlvrd=delivered
                )
                await self._delivery.queue([out])
            return
        final = Final(
            message,
            whole,
            err=receipt.err,
            done_at=receipt.done_at,
            sub=total,
            dlvrd=delivered,
            receipt_state=receipt.state if each else None,
            tag=_seg_tag(receipt.state, segment) if each else _seg_tag(whole, 0),
            network_error_code=receipt.network_error_code,
        )
        (result,) = await self._finaliser.finalise([final], now)
        if result is FinalResult.FINALISED:
            self._observe_latency(message, now)
        else:
            self._count(message.account, "duplicate")

    def _intermediate(self, message: MtMessage, receipt: OperatorReceipt) -> None:
        """Count a non-final receipt (ENROUTE, ACCEPTD, ...) of a message not final yet."""
        self.gateway.metrics.connector(message.connector).receipt("operator", receipt.state).inc()

    def _observe_latency(self, message: MtMessage, now: float) -> None:
        if message.submitted_at > 0 and now >= message.submitted_at:
            self.gateway.metrics.connector(message.connector).submit_receipt_seconds.observe(
                now - message.submitted_at
            )
