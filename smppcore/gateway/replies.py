"""Handset replies (MO): reassembly, the owning account, consent keywords, the client's copy.

Owns: :func:`normalise_mo_address`, :func:`find_owner` and :class:`ReplyHandler`.

Decisions:

* **Addresses** are normalised before any look-up: TON 1 (or a ``+``/``00`` prefix) is
  international, TON 2 and a trunk ``0`` are national numbers of ``[policy] default_country``;
  the result is E.164 digits without ``+`` (what conversations and ownership are keyed by).
  The client receives both addresses in that form with TON 1 / NPI 1; an address that is
  not a number (alphanumeric) is passed through as received.
* **Owner**: the conversation ``(sender = MO destination, recipient = MO source)`` while it
  has not expired, else the account owning the MO destination number, else
  ``default_account`` (constructor argument, else ``[policy] default_reply_account``), else
  :data:`UNROUTABLE_ACCOUNT`: the reply is kept there for an operator to inspect and counted
  (``smppcore_deliveries_total{kind="mo", result="unroutable"}``).
* **Segments** (UDH 8/16-bit or SAR TLVs) are each made durable *before* the operator gets
  ``ESME_ROK``: a part is stored as a :class:`~smppcore.store.base.ReplyPart` (keyed by the
  reply it belongs to and its place in it, so a resent part is stored once) and fed to a
  bounded in-memory :class:`Reassembler`. When the reply is complete the joined reply is
  queued for the owner and its parts deleted in the same store request. :meth:`ReplyHandler.run`
  delivers the parts of a reply that stays incomplete past ``reassembly_timeout`` (or is
  evicted from the table) to the owner as they came (UDH kept), so nothing is lost;
  :meth:`ReplyHandler.recover` reloads the stored parts after a restart. With several daemons
  on one Redis store the parts of one reply may land on different daemons; each then
  delivers its parts at the timeout.
* A joined reply of at most 254 octets goes in ``short_message``; a longer one in
  ``message_payload``.
* **Consent**: the whole (joined) text is classified by ``gateway.keywords``. STOP-like: the
  pair (our number, handset) is suppressed; STOPALL: (account, handset); START-like: both are
  lifted. The reply still goes to the client. With a ``confirmation_text`` for the handset's
  country (or ``default``), a confirmation MT is queued straight into the store's MT queue of
  the connector the reply came from. It passes the owning account's static policy (the
  sender is a valid, reply-capable number the account owns; the handset a valid destination)
  like any submit - else it is not sent - but not the consent check, so the suppression just
  recorded does not block it.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Final

import attrs
import phonenumbers
import structlog
import trio

from smppcore.gateway.consent import ConsentAction, normalise
from smppcore.gateway.deliverables import (
    ESM_UDHI,
    as_deliver_sm,
    item_from_pdu,
    read_concat,
    tlv_bytes,
    to_deliver_sm,
    user_data,
)
from smppcore.gateway.delivery import ClientDelivery, Outgoing
from smppcore.gateway.policy import SubmitCheck, check_static
from smppcore.gateway.privacy import record_opt_in, record_opt_out
from smppcore.gateway.rejection import Rejection
from smppcore.protocol.enums import CommandStatus
from smppcore.protocol.pdu import DataSm, DeliverSm
from smppcore.protocol.reassembly import (
    Partial,
    Reassembled,
    Reassembler,
    ReassemblyKey,
    RefKind,
)
from smppcore.protocol.text import choose_encoding, decode_text
from smppcore.protocol.tlv import Tlvs
from smppcore.store.base import UNROUTABLE_ACCOUNT, DeliveryKind, MtMessage, ReplyPart

if TYPE_CHECKING:
    from smppcore.gateway.context import Gateway

__all__ = [
    "MoPart",
    "ReplyHandler",
    "find_owner",
    "normalise_mo_address",
    "split_part",
]

log = structlog.get_logger(__name__)

_MAX_SHORT_MESSAGE: Final = 254
_SAR_TAGS: Final = ("sar_msg_ref_num", "sar_total_segments", "sar_segment_seqnum")
_TON_INTERNATIONAL, _TON_NATIONAL = 1, 2
_NPI_ISDN: Final = 1


def normalise_mo_address(addr: str, ton: int, region: str | None) -> str | None:
    """E.164 digits (no ``+``) of an MO address, or None when it is not a number."""
    text = addr.strip()
    if not text:
        return None
    digits = text[1:] if text.startswith("+") else text
    if not (digits.isascii() and digits.isdigit()):
        return None
    international = ton == _TON_INTERNATIONAL or text.startswith("+")
    if not international and ton != _TON_NATIONAL and digits.startswith("00"):
        digits, international = digits[2:], True
    if not international and (ton == _TON_NATIONAL or digits.startswith("0")) and region:
        try:
            number = phonenumbers.parse(digits, region)
        except phonenumbers.NumberParseException:
            return digits
        return f"{number.country_code}{number.national_number}"
    return digits


def _region_of(e164: str | None) -> str | None:
    if not e164:
        return None
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse("+" + e164, None))
    except phonenumbers.NumberParseException:
        return None


@attrs.frozen
class MoPart:
    """Where a received reply sits in a long message (``total == 1``: it is whole)."""

    reference: int
    kind: RefKind
    total: int
    seq: int
    data: bytes  #: the user data of this part, UDH removed


def split_part(pdu: DeliverSm | DataSm) -> MoPart:
    """Read the concatenation UDH or SAR TLVs of a reply."""
    body = user_data(pdu)
    t = pdu.tlvs
    concat, rest = read_concat(
        pdu.esm_class, body, (t.sar_msg_ref_num, t.sar_total_segments, t.sar_segment_seqnum)
    )
    if pdu.esm_class & ESM_UDHI and body:
        if concat is not None and concat.total > 1:
            kind = RefKind.UDH8 if concat.ref_bits == 8 else RefKind.UDH16
            return MoPart(concat.reference, kind, concat.total, concat.seq, rest)
        return MoPart(0, RefKind.SAR, 1, 1, body)  # other IEs (ports...): kept for the client
    if concat is not None and concat.total > 1 and 1 <= concat.seq <= concat.total:
        return MoPart(concat.reference, RefKind.SAR, concat.total, concat.seq, body)
    return MoPart(0, RefKind.SAR, 1, 1, body)


async def find_owner(
    gateway: Gateway, sender: str | None, handset: str | None, now: float,
    default_account: str | None = None,
) -> tuple[str, str]:  # fmt: skip
    """``(account, how)`` for a reply from ``handset`` to our number ``sender``."""
    directory = gateway.directory
    if sender and handset:
        conv = await gateway.store.get_conversation(sender, handset)
        if (
            conv is not None
            and (conv.expires_at <= 0 or conv.expires_at > now)
            and directory.get(conv.account) is not None
        ):
            return conv.account, "conversation"
    if sender:
        owner = directory.owner_of(sender)
        if owner is not None and directory.get(owner) is not None:
            return owner, "ownership"
    default = default_account or gateway.config.policy.default_reply_account
    if default is not None and directory.get(default) is not None:
        return default, "default"
    return UNROUTABLE_ACCOUNT, "unroutable"


@attrs.frozen
class _Reply:
    """One reply as received (possibly a part), with its normalised addresses."""

    connector: str
    pdu: DeliverSm
    handset: str | None
    sender: str | None


class ReplyHandler:
    """Turns operator deliver_sm/data_sm replies into queued deliveries for their owners."""

    def __init__(
        self,
        gateway: Gateway,
        delivery: ClientDelivery,
        *,
        default_account: str | None = None,
        reassembly_timeout: float = 120.0,
        max_partials: int = 10_000,
    ) -> None:
        self.gateway = gateway
        self._delivery = delivery
        self.default_account = default_account
        self.reassembly_timeout = reassembly_timeout
        self.max_partials = max_partials
        self.reassembler = Reassembler(max_partials, reassembly_timeout)
        #: Stored parts per incomplete reply, in first-seen order (as the reassembler).
        self._parts: dict[ReassemblyKey, dict[int, ReplyPart]] = {}
        self._changed = trio.Event()
        self.unroutable = 0
        self.consent_changes = 0

    # --- intake ---------------------------------------------------------------------------

    def _reply(self, connector: str, pdu: DeliverSm | DataSm) -> _Reply:
        region = self.gateway.config.policy.default_country
        pdu = as_deliver_sm(pdu)
        return _Reply(
            connector=connector,
            pdu=pdu,
            handset=normalise_mo_address(pdu.source_addr, pdu.source_addr_ton, region),
            sender=normalise_mo_address(pdu.destination_addr, pdu.dest_addr_ton, region),
        )

    async def handle(self, connector: str, pdu: DeliverSm | DataSm) -> int:
        """A handset reply from the operator: durable before return."""
        reply = self._reply(connector, pdu)
        part = split_part(reply.pdu)
        if part.total <= 1:
            await self._deliver_whole(reply, part.data, reply.pdu.esm_class)
            return int(CommandStatus.ESME_ROK)
        stored = self._stored_part(reply, part)
        await self.gateway.store.put_reply_parts([stored])
        await self._feed(reply, part, stored, trio.current_time())
        return int(CommandStatus.ESME_ROK)

    def part_record(self, connector: str, pdu: DeliverSm | DataSm) -> ReplyPart | None:
        """The record a part of a long reply is stored as; None when ``pdu`` is whole."""
        reply = self._reply(connector, pdu)
        part = split_part(reply.pdu)
        return self._stored_part(reply, part) if part.total > 1 else None

    def _key(self, reply: _Reply, part: MoPart) -> ReassemblyKey:
        return ReassemblyKey(
            reply.handset or reply.pdu.source_addr,
            reply.sender or reply.pdu.destination_addr,
            part.reference,
            part.kind,
            part.total,
        )

    def _message_key(self, reply: _Reply, key: ReassemblyKey) -> str:
        material = "|".join(
            (reply.connector, str(key.source), str(key.destination), str(key.reference),
             str(int(key.kind)), str(key.total))
        )  # fmt: skip
        return hashlib.blake2s(material.encode(), digest_size=16).hexdigest()

    def _stored_part(self, reply: _Reply, part: MoPart) -> ReplyPart:
        now = self.gateway.clock()
        pdu = reply.pdu
        return ReplyPart(
            message_key=self._message_key(reply, self._key(reply, part)),
            seq=part.seq,
            connector=reply.connector,
            source_addr=pdu.source_addr,
            destination_addr=pdu.destination_addr,
            source_addr_ton=pdu.source_addr_ton,
            source_addr_npi=pdu.source_addr_npi,
            dest_addr_ton=pdu.dest_addr_ton,
            dest_addr_npi=pdu.dest_addr_npi,
            esm_class=pdu.esm_class,
            protocol_id=pdu.protocol_id,
            data_coding=pdu.data_coding,
            short_message=pdu.short_message,
            tlvs=tlv_bytes(pdu.tlvs),
            received_at=now,
            expires_at=self.gateway.expires_at(UNROUTABLE_ACCOUNT, "delivery", now)
            + self.reassembly_timeout,
        )

    async def _feed(self, reply: _Reply, part: MoPart, stored: ReplyPart, now: float) -> None:
        key = self._key(reply, part)
        evicted: dict[int, ReplyPart] | None = None
        if key not in self._parts and len(self._parts) >= self.max_partials:
            oldest = next(iter(self._parts))
            evicted = self._parts.pop(oldest)
        self._parts.setdefault(key, {}).setdefault(part.seq, stored)
        done = self.reassembler.feed(
            source=key.source,
            destination=key.destination,
            reference=key.reference,
            kind=key.kind,
            total=key.total,
            seq=part.seq,
            data=part.data,
            now=now,
        )
        parts = self._parts.pop(key, None) if done is not None else None
        self._changed.set()
        if evicted:
            await self._deliver_parts(list(evicted.values()))
        if done is not None and parts is not None:
            await self._complete(reply, done, parts)

    async def _complete(
        self, reply: _Reply, done: Reassembled, parts: dict[int, ReplyPart]
    ) -> None:
        first = to_deliver_sm(parts.get(1) or next(iter(parts.values())))
        tlvs = first.tlvs.without(*_SAR_TAGS, "message_payload")
        pdu = attrs.evolve(
            reply.pdu,
            esm_class=first.esm_class & ~ESM_UDHI,
            data_coding=first.data_coding,
            tlvs=tlvs,
            short_message=b"",
        )
        keys = sorted({p.message_key for p in parts.values()})
        await self._deliver_whole(
            attrs.evolve(reply, pdu=pdu), done.data, pdu.esm_class, done_parts=keys
        )

    # --- delivery to the owner -----------------------------------------------------------

    def _mo_item(
        self, reply: _Reply, account: str, body: bytes, esm_class: int, tlvs: Tlvs, now: float
    ) -> Outgoing:
        pdu = reply.pdu
        if len(body) > _MAX_SHORT_MESSAGE:
            tlvs = tlvs.with_(message_payload=body)
            body = b""
        else:
            tlvs = tlvs.without("message_payload")
        src, src_ton, src_npi = pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi
        if reply.handset:
            src, src_ton, src_npi = reply.handset, 1, 1
        dst, dst_ton, dst_npi = pdu.destination_addr, pdu.dest_addr_ton, pdu.dest_addr_npi
        if reply.sender:
            dst, dst_ton, dst_npi = reply.sender, 1, 1
        mo = attrs.evolve(
            pdu,
            source_addr=src,
            source_addr_ton=src_ton,
            source_addr_npi=src_npi,
            destination_addr=dst,
            dest_addr_ton=dst_ton,
            dest_addr_npi=dst_npi,
            esm_class=esm_class,
            short_message=body,
            tlvs=tlvs,
        )
        lease = self._delivery.claim(account, now)
        item = item_from_pdu(
            mo,
            id=self.gateway.ids.new(),
            account=account,
            kind=DeliveryKind.MO,
            created_at=now,
            expires_at=self.gateway.expires_at(account, "delivery", now),
            lease_owner=lease.owner if lease is not None else "",
            lease_until=lease.until if lease is not None else 0.0,
        )
        return Outgoing(item, mo)

    async def _owner(self, reply: _Reply, now: float) -> str:
        account, _how = await find_owner(
            self.gateway, reply.sender, reply.handset, now, self.default_account
        )
        if account == UNROUTABLE_ACCOUNT:
            self.unroutable += 1
            self.gateway.metrics.deliveries.labels(UNROUTABLE_ACCOUNT, "mo", "unroutable").inc()
            log.warning("reply.unroutable", connector=reply.connector)
        return account

    async def _deliver_whole(
        self, reply: _Reply, body: bytes, esm_class: int, *, done_parts: list[str] | None = None
    ) -> None:
        now = self.gateway.clock()
        account = await self._owner(reply, now)
        text = decode_text(body, reply.pdu.data_coding) if not esm_class & ESM_UDHI else ""
        await self._consent(reply, account, text, now)
        tlvs = reply.pdu.tlvs.without(*_SAR_TAGS)
        out = self._mo_item(reply, account, body, esm_class, tlvs, now)
        await self._delivery.queue([out], done_parts=done_parts or ())

    async def _deliver_parts(self, parts: list[ReplyPart]) -> None:
        """Deliver the parts of a reply that never completed, each as it was received, and
        delete them (one store request)."""
        if not parts:
            return
        now = self.gateway.clock()
        first = parts[0]
        reply = self._reply(first.connector, to_deliver_sm(first))
        account = await self._owner(reply, now)
        outs = []
        for p in parts:
            pdu = to_deliver_sm(p)
            outs.append(
                self._mo_item(
                    self._reply(p.connector, pdu), account, pdu.short_message, pdu.esm_class,
                    pdu.tlvs, now,
                )
            )  # fmt: skip
        keys = sorted({p.message_key for p in parts})
        await self._delivery.queue(outs, done_parts=keys)

    # --- consent -------------------------------------------------------------------------

    async def _consent(self, reply: _Reply, account: str, text: str, now: float) -> None:
        if not text or reply.handset is None:
            return
        action = self.gateway.keywords.classify(text)
        if action in (ConsentAction.NONE, ConsentAction.HELP):
            return
        store = self.gateway.store
        keyword = normalise(text).upper()[:32]
        routable = account != UNROUTABLE_ACCOUNT
        if action is ConsentAction.OPT_OUT and reply.sender:
            await record_opt_out(store, reply.sender, reply.handset, keyword, now)
        elif action is ConsentAction.OPT_OUT_ALL:
            scope = account if routable else reply.sender
            if scope:
                await record_opt_out(store, scope, reply.handset, keyword, now)
        elif action is ConsentAction.OPT_IN:
            scopes = [s for s in (reply.sender, account if routable else None) if s]
            await record_opt_in(store, scopes, reply.handset, keyword, now)
        self.consent_changes += 1
        await self._confirm(reply, account, now)

    async def _confirm(self, reply: _Reply, account: str, now: float) -> None:
        keywords = self.gateway.config.policy.keywords
        region = _region_of(reply.handset)
        chosen = keywords.get(region) if region else None
        if chosen is None or chosen.confirmation_text is None:
            chosen = keywords.get("default")
        text = chosen.confirmation_text if chosen is not None else None
        if not text or not reply.sender or not reply.handset:
            return
        encoded = choose_encoding(text)
        if not self._may_confirm(reply.sender, reply.handset, account, len(encoded.payload)):
            log.info("reply.confirmation_refused", connector=reply.connector)
            return
        message = MtMessage(
            id=self.gateway.ids.new(),
            account=account,
            connector=reply.connector,
            source_addr=reply.sender,
            destination_addr=reply.handset,
            data_coding=encoded.data_coding,
            payload=encoded.payload,
            submitted_at=now,
            expires_at=self.gateway.expires_at(account, "message", now),
        )
        await self.gateway.store.enqueue_mt([message])
        connector = self.gateway.connectors.get(reply.connector)
        if connector is not None:
            connector.wake()

    def _may_confirm(self, sender: str, handset: str, account: str, length: int) -> bool:
        """The confirmation passes ``account``'s static submit policy (consent aside)."""
        runtime = self.gateway.directory.get(account)
        if runtime is None:
            return False
        check = SubmitCheck(
            account=account, rules=runtime.rules,
            source_ton=_TON_INTERNATIONAL, source_npi=_NPI_ISDN, source_addr=sender,
            dest_ton=_TON_INTERNATIONAL, dest_npi=_NPI_ISDN, dest_addr=handset,
            message_payload_len=length,
        )  # fmt: skip
        return not isinstance(check_static(check), Rejection)

    # --- background: recovery and timeouts ------------------------------------------------

    async def recover(self) -> int:
        """Reload the stored parts of incomplete replies (after a restart); returns how many
        parts went back into the reassembly table."""
        count = 0
        for stored in await self.gateway.store.reply_parts():
            reply = self._reply(stored.connector, to_deliver_sm(stored))
            part = split_part(reply.pdu)
            if part.total <= 1:
                await self._deliver_parts([stored])
                continue
            await self._feed(reply, part, stored, trio.current_time())
            count += 1
        return count

    async def expire_due(self, now: float) -> int:
        """Deliver the parts of messages incomplete for ``reassembly_timeout``."""
        expired: tuple[Partial, ...] = self.reassembler.expire(now)
        for partial in expired:
            parts = self._parts.pop(partial.key, None)
            if parts:
                await self._deliver_parts(list(parts.values()))
        return len(expired)

    async def run(self) -> None:
        """Deliver timed-out partials until cancelled (call :meth:`recover` first)."""
        while True:
            deadline = self.reassembler.next_deadline()
            self._changed = trio.Event()
            if deadline is None:
                await self._changed.wait()
                continue
            with trio.move_on_at(deadline):
                await self._changed.wait()
            await self.expire_due(trio.current_time())
