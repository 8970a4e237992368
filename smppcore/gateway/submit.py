"""The MT path: submit_sm, data_sm and submit_multi checked, routed and durably queued.

Owns: the per-message chain every client message goes through, and the handlers
:func:`handle_submits` (a batch of ``submit_sm``/``data_sm`` read together from one session:
the server hands them over so), :func:`handle_submit_sm`, :func:`handle_data_sm` (a batch
of one) and :func:`handle_submit_multi`.

The chain, in order (first "no" wins, each "no" counted under its reason):

1. **Throughput**: the account's token bucket → ``ESME_RTHROTTLED`` ``throttled``. A burst
   above the limit is answered, never dropped; the connection stays up.
2. **Static policy** (:func:`~smppcore.gateway.policy.check_static`): source is a numeric,
   valid, reply-capable number owned by the account (alphanumeric — TON 5 or any letter — is
   always ``ESME_RINVSRCADR``), destination valid, content consistent.
3. **Consent**: recipient opted out of ``[source, account]`` → the configured
   ``[policy] suppressed_status``, reason ``suppressed``. For ``submit_sm``/``data_sm`` this
   check is made by the store in the same request as the durable enqueue (step 7,
   ``store.enqueue_mt_unless_suppressed``): one store round trip per submit instead of two,
   and no window between check and enqueue. It is never skipped; the only visible effect of
   the move is for a message that fails consent AND one of steps 4-6: it gets that step's
   status. ``submit_multi`` checks each destination here (``store.is_suppressed``), so the
   response's message id always names an accepted message.
4. **Times**: ``schedule_delivery_time`` / ``validity_period`` (absolute or relative) →
   ``ESME_RINVSCHED`` / ``ESME_RINVEXPIRY`` when malformed; a validity already past, or not
   after the schedule, is ``ESME_RINVEXPIRY``.
5. **Route**: :class:`~smppcore.gateway.routing.Router` with failover by ``is_up()``. No route
   at all → ``ESME_RINVDSTADR`` ``no_route``. Routes exist but every connector is down →
   the message is queued for the most specific route's primary anyway (``router.primary``):
   it is durable, the connector sends it when it comes back, and validity expiry bounds the
   wait. Durability beats rejection for a gateway.
6. **Queue cap**: ``max_queued`` per account (:class:`~smppcore.gateway.queued.QueuedCounters`)
   → ``ESME_RMSGQFUL`` ``queue_full``.
7. **Durable enqueue**: the store request returns (group commit) *before* the response with
   our message id is sent; then ``connector.wake()``. The conversation ``(sender, recipient)
   → account`` rides in the same store request (SQLite: the same transaction), so it is
   durable with the message, before the response. A batch of submits costs ONE store request
   for all of them (steps 3, 6 and 7 of each, :func:`enqueue_each`), and each is answered
   once it is durable (responses may leave out of order, which SMPP allows).

Payload: ``short_message`` or, when present, the ``message_payload`` TLV (the whole text in
one record); UDH, if the client sent one (UDHI set), stays at the start of the payload with
``esm_class`` unchanged. Every other TLV is forwarded as encoded bytes.

``submit_multi``: each SME destination runs the whole chain and gets its own queued message;
the first accepted one carries the response's message id, the n-th (n ≥ 2) ``<id>-<n>``.
Distribution lists → ``ESME_RCNTSUBDL`` in the unsuccess list. If no destination was
accepted the response status is ``ESME_RSUBMITFAIL`` (the list says why, per destination).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import attrs
import structlog

from smppcore.gateway.accounts import AccountRuntime
from smppcore.gateway.client import ClientSession
from smppcore.gateway.context import Gateway
from smppcore.gateway.numbers import Normalised
from smppcore.gateway.policy import ESM_UDHI, Accepted, SubmitCheck, check_static
from smppcore.gateway.rejection import Rejection
from smppcore.gateway.routing import CONNECTORS_DOWN
from smppcore.gateway.smpptime import parse_smpp_time
from smppcore.protocol.enums import CommandStatus, TlvTag
from smppcore.protocol.pdu import (
    DataSm,
    DistributionList,
    Pdu,
    SubmitMulti,
    SubmitSm,
    UnsuccessSme,
)
from smppcore.protocol.tlv import Tlvs, encode_tlvs
from smppcore.store.base import Conversation, MtMessage

__all__ = [
    "MessageFields",
    "handle_data_sm",
    "handle_submit_multi",
    "handle_submit_sm",
]

log = structlog.get_logger(__name__)

_PAYLOAD_TAG: Final = int(TlvTag.MESSAGE_PAYLOAD)
THROTTLED: Final = Rejection(int(CommandStatus.ESME_RTHROTTLED), "throttled")
QUEUE_FULL: Final = Rejection(int(CommandStatus.ESME_RMSGQFUL), "queue_full")
BAD_SCHEDULE: Final = Rejection(int(CommandStatus.ESME_RINVSCHED), "bad_schedule")
BAD_VALIDITY: Final = Rejection(int(CommandStatus.ESME_RINVEXPIRY), "bad_validity")
MISSING_PAYLOAD: Final = Rejection(int(CommandStatus.ESME_RMISSINGOPTPARAM), "missing_payload")
DISTRIBUTION_LIST: Final = Rejection(int(CommandStatus.ESME_RCNTSUBDL), "distribution_list")
STORE_FAILED: Final = Rejection(int(CommandStatus.ESME_RSYSERR), "store_error")
_SUBMIT_FAIL: Final = int(CommandStatus.ESME_RSUBMITFAIL)


@attrs.frozen(slots=True)
class MessageFields:
    """What a submit_sm, data_sm or submit_multi says about the message itself."""

    service_type: str
    source_ton: int
    source_npi: int
    source_addr: str
    esm_class: int
    protocol_id: int
    priority: int
    registered_delivery: int
    data_coding: int
    short_message: bytes
    payload: bytes | None  # the message_payload TLV, if present
    extra_tlvs: bytes  # every other TLV, encoded
    schedule: str
    validity: str

    @property
    def data(self) -> bytes:
        return self.payload if self.payload is not None else self.short_message


def _split_tlvs(tlvs: Tlvs) -> tuple[bytes | None, bytes]:
    if not tlvs:
        return None, b""
    raw = tlvs.get(_PAYLOAD_TAG)
    payload = raw if isinstance(raw, bytes) else None
    rest = tlvs.without(_PAYLOAD_TAG) if payload is not None else tlvs
    if not rest:
        return payload, b""
    out: list[bytes] = []
    encode_tlvs(rest, out)
    return payload, b"".join(out)


def fields_of(pdu: SubmitSm | SubmitMulti | DataSm) -> MessageFields:
    payload, extra = _split_tlvs(pdu.tlvs)
    if isinstance(pdu, DataSm):
        return MessageFields(
            pdu.service_type, pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr,
            pdu.esm_class, 0, 0, pdu.registered_delivery, pdu.data_coding, b"", payload,
            extra, "", "",
        )  # fmt: skip
    return MessageFields(
        pdu.service_type, pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr,
        pdu.esm_class, pdu.protocol_id, pdu.priority_flag, pdu.registered_delivery,
        pdu.data_coding, pdu.short_message, payload, extra, pdu.schedule_delivery_time,
        pdu.validity_period,
    )  # fmt: skip


def _udh_length(fields: MessageFields) -> int:
    data = fields.data
    if fields.esm_class & ESM_UDHI and data:
        return data[0] + 1
    return 0


async def check_message(
    gateway: Gateway,
    account: AccountRuntime,
    fields: MessageFields,
    dest_ton: int,
    dest_npi: int,
    dest_addr: str,
    consent: bool = True,
) -> Accepted | Rejection:
    """Static policy, then consent (steps 2-3 of the chain); ``consent=False`` leaves the
    consent check to the enqueue (see :func:`enqueue`)."""
    check = SubmitCheck(
        account=account.system_id,
        rules=account.rules,
        source_ton=fields.source_ton,
        source_npi=fields.source_npi,
        source_addr=fields.source_addr,
        dest_ton=dest_ton,
        dest_npi=dest_npi,
        dest_addr=dest_addr,
        data_coding=fields.data_coding,
        esm_class=fields.esm_class,
        priority_flag=fields.priority,
        registered_delivery=fields.registered_delivery,
        sm_length=len(fields.short_message),
        short_message_len=len(fields.short_message),
        message_payload_len=None if fields.payload is None else len(fields.payload),
        udh_length=_udh_length(fields),
    )
    result = check_static(check)
    if isinstance(result, Rejection) or not consent:
        return result
    scopes = (result.source.e164, account.system_id)
    if await gateway.store.is_suppressed(scopes, result.destination.e164):
        return _suppressed(gateway)
    return result


def _suppressed(gateway: Gateway) -> Rejection:
    """The rejection for an opted-out pair, with the configured status."""
    return Rejection(gateway.config.policy.suppressed_status, "suppressed")


def message_times(fields: MessageFields, now: float) -> tuple[float, float] | Rejection:
    """``(not_before, validity_until)``; 0.0 = not given."""
    try:
        schedule = parse_smpp_time(fields.schedule, now)
    except ValueError:
        return BAD_SCHEDULE
    try:
        validity = parse_smpp_time(fields.validity, now)
    except ValueError:
        return BAD_VALIDITY
    not_before = schedule if schedule is not None and schedule > now else 0.0
    if validity is not None and (validity <= now or validity <= not_before):
        return BAD_VALIDITY
    return not_before, validity or 0.0


def choose_connector(gateway: Gateway, account: str, destination: Normalised) -> str | Rejection:
    """Step 5: a live connector, else the primary of the best route, else no_route."""
    chosen = gateway.router.route(
        account, destination.e164, destination.region, gateway.is_up, gateway.rand
    )
    if chosen is CONNECTORS_DOWN:
        return gateway.router.primary(account, destination.e164, destination.region, gateway.rand)
    return chosen


def _throttle(account: AccountRuntime, now: float) -> Rejection | None:
    if account.bucket.try_acquire(now=now):
        return None
    account.metrics.throttled.inc()
    return THROTTLED


def build_message(
    account: AccountRuntime,
    message_id: str,
    connector: str,
    fields: MessageFields,
    accepted: Accepted,
    times: tuple[float, float],
    now: float,
) -> MtMessage:
    return MtMessage(
        id=message_id,
        account=account.system_id,
        connector=connector,
        source_addr=accepted.source.e164,
        destination_addr=accepted.destination.e164,
        service_type=fields.service_type,
        esm_class=fields.esm_class,
        protocol_id=fields.protocol_id,
        priority=fields.priority,
        registered_delivery=fields.registered_delivery,
        data_coding=fields.data_coding,
        payload=fields.data,
        tlvs=fields.extra_tlvs,
        submitted_at=now,
        not_before=times[0],
        validity_until=times[1],
        expires_at=now + account.retention_seconds,
    )


async def _prepare(
    gateway: Gateway,
    account: AccountRuntime,
    fields: MessageFields,
    dest: tuple[int, int, str],
    message_id: str,
    now: float,
    consent: bool = True,
) -> MtMessage | Rejection:
    """Steps 1-5 for one destination (without step 3 if ``consent`` is False)."""
    throttled = _throttle(account, now)
    if throttled is not None:
        return throttled
    accepted = await check_message(gateway, account, fields, *dest, consent=consent)
    if isinstance(accepted, Rejection):
        return accepted
    times = message_times(fields, now)
    if isinstance(times, Rejection):
        return times
    connector = choose_connector(gateway, account.system_id, accepted.destination)
    if isinstance(connector, Rejection):
        return connector
    return build_message(account, message_id, connector, fields, accepted, times, now)


async def enqueue(
    gateway: Gateway, account: AccountRuntime, messages: Sequence[MtMessage], now: float
) -> Rejection | None:
    """Steps 6-7 for messages that stand or fall together (``submit_multi``, whose
    destinations were checked for consent one by one): reserve room under the cap, make
    durable, wake the connectors."""
    n = len(messages)
    name = account.system_id
    if not await gateway.queued.reserve(gateway.store, name, account.config.max_queued, now, n):
        return QUEUE_FULL
    try:
        conversations = _conversations(gateway, name, messages, now)
        await gateway.store.enqueue_mt(messages, conversations=conversations)
    except Exception:
        gateway.queued.release(name, n)
        log.warning("mt.enqueue_failed", account=name, messages=n, exc_info=True)
        return STORE_FAILED
    except BaseException:  # cancelled mid-write: the reservation must not stay forever
        gateway.queued.release(name, n)
        raise
    gateway.queued.commit(name, n)
    _accepted(gateway, account, messages)
    return None


async def enqueue_each(
    gateway: Gateway, account: AccountRuntime, messages: Sequence[MtMessage], now: float
) -> list[Rejection | None]:
    """Steps 3, 6 and 7 for independent messages (a batch of submit_sm/data_sm) in ONE store
    request: each gets room under the cap (in order, while there is room), the consent check
    and the durable enqueue (``store.enqueue_mt_unless_suppressed``: one transaction on
    SQLite). One result per message: None when it is queued, else its rejection."""
    n = len(messages)
    name = account.system_id
    queued, store, cap = gateway.queued, gateway.store, account.config.max_queued
    room = n if await queued.reserve(store, name, cap, now, n) else 0
    if not room:  # not all of them fit: as many as do, oldest first
        while room < n and await queued.reserve(store, name, cap, now, 1):
            room += 1
    results: list[Rejection | None] = [QUEUE_FULL] * n
    batch = messages[:room]
    if not batch:
        return results
    scopes = [(m.source_addr, name) for m in batch]
    try:
        refused = await store.enqueue_mt_unless_suppressed(
            batch, scopes, conversations=_conversations(gateway, name, batch, now)
        )
    except Exception:
        queued.release(name, room)
        log.warning("mt.enqueue_failed", account=name, messages=room, exc_info=True)
        return [STORE_FAILED] * room + results[room:]
    except BaseException:  # cancelled mid-write: the reservations must not stay forever
        queued.release(name, room)
        raise
    suppressed = sum(refused)
    if suppressed:
        queued.release(name, suppressed)
        rejection = _suppressed(gateway)
        for i, no in enumerate(refused):
            if no:
                results[i] = rejection
    queued.commit(name, room - suppressed)
    for i in range(room):
        if not refused[i]:
            results[i] = None
    _accepted(gateway, account, [m for m, no in zip(batch, refused, strict=True) if not no])
    return results


def _conversations(
    gateway: Gateway, account: str, messages: Sequence[MtMessage], now: float
) -> list[Conversation]:
    expires = gateway.expires_at(account, "conversation", now)
    return [
        Conversation(m.source_addr, m.destination_addr, account, now, expires) for m in messages
    ]


def _accepted(gateway: Gateway, account: AccountRuntime, messages: Sequence[MtMessage]) -> None:
    """Queued: wake their connectors and count them."""
    if not messages:
        return
    for connector in {m.connector for m in messages}:
        target = gateway.connectors.get(connector)
        if target is not None:
            target.wake()
    account.metrics.accepted.inc(len(messages))


async def handle_submits(
    session: ClientSession, account: AccountRuntime, pdus: Sequence[Pdu]
) -> None:
    """A batch of ``submit_sm``/``data_sm`` read together from one session: each is checked
    on its own (steps 1, 2, 4, 5), the accepted ones are made durable in one store request
    (steps 3, 6, 7, :func:`enqueue_each`), then every one is answered, in the step the store
    returned in (no checkpoint between the durable write and the answers). Cancelled during
    the store request, it answers nothing: the write's outcome is unknown then (see
    :func:`smppcore.gateway.server.handle_client`)."""
    gateway = session.gateway
    now = gateway.clock()
    answers: list[Rejection | str] = []
    accepted: list[MtMessage] = []
    for pdu in pdus:
        assert isinstance(pdu, SubmitSm | DataSm)
        fields = fields_of(pdu)
        prepared: MtMessage | Rejection
        if isinstance(pdu, DataSm) and fields.payload is None:
            prepared = MISSING_PAYLOAD
        else:
            prepared = await _prepare(
                gateway,
                account,
                fields,
                (pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr),
                gateway.ids.new(),
                now,
                consent=False,  # checked by the store with the enqueue, below
            )
        if isinstance(prepared, Rejection):
            answers.append(prepared)
        else:
            answers.append(prepared.id)
            accepted.append(prepared)
    results = iter(await enqueue_each(gateway, account, accepted, now) if accepted else ())
    # No checkpoint from here on: once the store has returned, every answer is queued in
    # this step, so no cancellation (a drain's deadline) can leave a durable message
    # unanswered.
    for pdu, answer in zip(pdus, answers, strict=True):
        if isinstance(answer, str):
            refused = next(results)
            if refused is None:
                session.respond_now(pdu, pdu.response(message_id=answer))
                continue
            answer = refused
        session.reject_submit_now(pdu, account, answer)


async def handle_submit_sm(session: ClientSession, account: AccountRuntime, pdu: Pdu) -> None:
    """One ``submit_sm`` (as a batch of one, see :func:`handle_submits`)."""
    await handle_submits(session, account, [pdu])


async def handle_data_sm(session: ClientSession, account: AccountRuntime, pdu: Pdu) -> None:
    """One ``data_sm`` (as a batch of one, see :func:`handle_submits`)."""
    await handle_submits(session, account, [pdu])


def _unsuccess(target: tuple[int, int, str], status: int) -> UnsuccessSme:
    ton, npi, addr = target
    return UnsuccessSme(
        dest_addr_ton=ton, dest_addr_npi=npi, destination_addr=addr, error_status_code=status
    )


async def handle_submit_multi(session: ClientSession, account: AccountRuntime, pdu: Pdu) -> None:
    assert isinstance(pdu, SubmitMulti)
    gateway = session.gateway
    fields = fields_of(pdu)
    now = gateway.clock()
    base_id = gateway.ids.new()
    messages: list[MtMessage] = []
    targets: list[tuple[int, int, str]] = []
    unsuccess: list[UnsuccessSme] = []
    for dest in pdu.dest_addresses:
        if isinstance(dest, DistributionList):
            session.count_rejection(account, DISTRIBUTION_LIST)
            unsuccess.append(UnsuccessSme(error_status_code=DISTRIBUTION_LIST.status))
            continue
        message_id = base_id if not messages else f"{base_id}-{len(messages) + 1}"
        target = (dest.dest_addr_ton, dest.dest_addr_npi, dest.destination_addr)
        prepared = await _prepare(gateway, account, fields, target, message_id, now)
        if isinstance(prepared, Rejection):
            session.count_rejection(account, prepared)
            unsuccess.append(_unsuccess(target, prepared.status))
        else:
            messages.append(prepared)
            targets.append(target)
    if messages:
        refused = await enqueue(gateway, account, messages, now)
        if refused is not None:
            for target in targets:
                session.count_rejection(account, refused)
                unsuccess.append(_unsuccess(target, refused.status))
            messages = []
    status = 0 if messages else _SUBMIT_FAIL
    response = pdu.response(
        status,
        message_id=base_id if messages else "",
        unsuccess_smes=tuple(unsuccess),
    )
    session.respond_now(pdu, response)  # no checkpoint after the store (see handle_submits)
