"""Delivery receipts: from the operator's deliver_sm to the client's, carrying our message id.

Owns the receipt values and rules: :func:`is_receipt`, :class:`OperatorConvention` (how
one operator writes its receipts: the zone of its dates, the form of its ids),
:func:`read_operator_receipt` (id, state, error and done date from the TLVs or the text),
:func:`wants_receipt` and :func:`client_receipt`
(the receipt a client gets for one of its messages, also for the gateway's own receipts of
messages that never reached an operator). Pure functions: no I/O, no clock. What is done with
a receipt is :mod:`smppcore.gateway.correlation`'s (matching, segments, duplicates),
:mod:`smppcore.gateway.pending`'s (the race) and :mod:`smppcore.gateway.finals`'s (the end of
a message).

Decisions:

* The upstream id comes from ``receipted_message_id``, else from the text's ``id:``; the
  store looks it up for the connector by the keys its ``id_format`` gives
  (:func:`~smppcore.protocol.receipt.receipt_id_keys`, best first;
  :meth:`~smppcore.store.base.Store.match_receipt`): the map is written under
  :func:`normalise_message_id`, but an operator may write the id in hex in the response and
  in decimal in the receipt; ``"auto"`` tries every variant. The state comes from
  ``message_state``, else the text's ``stat:``; the error from the text's ``err:`` (the
  ``network_error_code`` TLV is passed through as is).
* **Dates**: an operator's ``done date:`` (no zone in the text) is read in the connector's
  ``dlr_timezone``; every date in a client's receipt is written in UTC (``submit date:``
  is when the gateway accepted the message; ``done date:`` the operator's, else when the
  gateway learnt the outcome).
* **The client's ``err:``**: an operator's ``err:`` is passed on as the operator wrote it
  when it is 1 to 10 ASCII letters or digits (a 32-bit code in decimal has 10), zero-padded
  to 3 when shorter (``err:8`` → ``err:008``), never cut; none, or anything else, is passed
  on as ``000``. A receipt the gateway writes itself (a message that failed or expired
  without an operator receipt) gives its numeric error code in the account's
  ``receipt_err`` form (:func:`~smppcore.protocol.receipt.format_err`: decimal ``088``,
  ``1025``; hex ``058``, ``401``, ``45A``).
* **The race** (a receipt faster than the id map) is :mod:`smppcore.gateway.pending`'s: the
  receipt is held durably there, without its text, and the operator gets ``ESME_ROK``.
* A final receipt of a single-segment message goes to the :class:`Finaliser` with every other
  final of the batch: one store request makes them final and queues their client receipts.
* Multi-segment messages: each segment has its own id map; the segment's state is recorded
  (:meth:`~smppcore.store.base.Store.record_segment`); ``receipt_mode = "each_segment"``
  gives the client one receipt per segment receipt (``sub``/``dlvrd`` say how many segments
  there are and how many are delivered so far); ``"final"`` gives one receipt once every
  segment is final: DELIVRD if all were delivered, else the state of the first segment that
  was not. The message becomes final (through the finaliser, with that receipt) when its
  last segment does.
* Only final states (DELIVRD, EXPIRED, DELETED, UNDELIV, REJECTD, SKIPPED) close a message;
  an intermediate receipt (ENROUTE, ACCEPTD, UNKNOWN) is forwarded only when the submit asked
  for intermediate notifications (``registered_delivery`` bit 0x10).
* ``registered_delivery & 0x03``: 1 (or the reserved 3) → every final receipt, 2 → failures
  only, 0 → none.
* **Duplicates**: a receipt for a message that is final already, a second final receipt of
  one segment, or one the store finds final when it writes (a race) is dropped and counted
  ``smppcore_deliveries_total{kind="receipt", result="duplicate"}``. A receipt repeated before
  its message is final (an intermediate one) has the same item id as its first copy and is
  not queued twice.
* The client's receipt: source = the original recipient, destination = the original sender,
  ``esm_class`` 0x04, text ``id:<our id> ...``, TLVs ``receipted_message_id`` (our id) and
  ``message_state``. Item ids are derived from (message, segment, state).
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Final

import attrs

from smppcore.gateway.deliverables import item_from_pdu, receipt_deliver_sm, user_data
from smppcore.gateway.delivery import Lease, Outgoing
from smppcore.protocol.enums import MessageState, TlvTag
from smppcore.protocol.pdu import DataSm, DeliverSm
from smppcore.protocol.receipt import FINAL_STATES, IdFormat, format_receipt, parse_receipt
from smppcore.protocol.tlv import Tlvs
from smppcore.store.base import DeliveryKind, MtMessage

__all__ = [
    "OperatorConvention",
    "OperatorReceipt",
    "aggregate",
    "client_receipt",
    "is_receipt",
    "read_operator_receipt",
    "wants_receipt",
]

_RECEIPT_TYPES: Final = frozenset({0x04, 0x08, 0x10, 0x20})  # esm_class bits 2-5
_RECEIPTED_MESSAGE_ID: Final = int(TlvTag.RECEIPTED_MESSAGE_ID)
_MESSAGE_STATE: Final = int(TlvTag.MESSAGE_STATE)
_NETWORK_ERROR_CODE: Final = int(TlvTag.NETWORK_ERROR_CODE)
_FINAL_VALUES: Final = frozenset(int(s) for s in FINAL_STATES)
_MAX_ITEM_ID = 64
_NO_ERROR: Final = "000"
_MAX_ERR_LENGTH: Final = 10  # 0xFFFFFFFF in decimal


def is_receipt(pdu: DeliverSm | DataSm) -> bool:
    """A receipt (or SME ack / intermediate notification) rather than a handset reply.

    Besides the esm_class message type, two forms seen from SMSCs that leave esm_class 0 are
    taken as receipts: ``receipted_message_id`` with ``message_state``, and a text that
    starts with ``id:`` and has a ``stat:`` field."""
    if (pdu.esm_class & 0x3C) in _RECEIPT_TYPES:
        return True
    if pdu.tlvs.receipted_message_id is not None and pdu.tlvs.message_state is not None:
        return True
    head = user_data(pdu)[:200].lower()
    return head.startswith(b"id:") and b" stat:" in head


@attrs.frozen
class OperatorConvention:
    """How one operator writes its receipts (``[[connectors]]`` ``dlr_timezone`` and
    ``id_format``); the default is an operator in UTC whose id forms are not known."""

    tz: tzinfo = UTC  #: the zone of its receipts' dates
    id_format: IdFormat = "auto"  #: how its message ids are written


@attrs.frozen
class OperatorReceipt:
    """What the gateway needs from an operator's receipt (and nothing of its text)."""

    upstream_id: str | None
    state: MessageState
    err: str = _NO_ERROR  #: the operator's ``err:`` as passed on to the client
    done_at: datetime | None = None
    network_error_code: bytes | None = None

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


def read_operator_receipt(pdu: DeliverSm | DataSm, tz: tzinfo = UTC) -> OperatorReceipt:
    """Id, state, error and done date of a receipt: TLVs first, then the text (whose dates
    are read in ``tz``, the operator's zone)."""
    text = user_data(pdu).decode("latin-1")
    parsed = parse_receipt(text, tz=tz)
    upstream = pdu.tlvs.receipted_message_id or parsed.message_id
    tlv_state = pdu.tlvs.message_state
    if tlv_state is not None and tlv_state in MessageState._value2member_map_:
        state = MessageState(tlv_state)
    else:
        state = parsed.state
    return OperatorReceipt(
        upstream.strip() if upstream else None,
        state,
        _passed_on_err(parsed.err),
        parsed.done_date,
        pdu.tlvs.network_error_code,
    )


def _passed_on_err(err: str | None) -> str:
    """The operator's ``err:`` as the client gets it (see the module docstring)."""
    if not err or len(err) > _MAX_ERR_LENGTH or not (err.isascii() and err.isalnum()):
        return _NO_ERROR
    return err.zfill(3)


def wants_receipt(registered_delivery: int, state: MessageState) -> bool:
    """Whether a submit with ``registered_delivery`` asked for a receipt in ``state``."""
    if state not in FINAL_STATES:
        return bool(registered_delivery & 0x10)
    bits = registered_delivery & 0x03
    if bits == 2:
        return state is not MessageState.DELIVERED
    return bits in (1, 3)


def aggregate(states: dict[int, int], total: int) -> MessageState | None:
    """The whole message's state once every segment is final, else None."""
    if any(states.get(seg) not in _FINAL_VALUES for seg in range(1, total + 1)):
        return None
    for seg in range(1, total + 1):
        if states[seg] != MessageState.DELIVERED:
            return MessageState(states[seg])
    return MessageState.DELIVERED


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _utc(when: datetime) -> datetime:
    """``when`` in UTC (a naive datetime is taken as UTC already)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def client_receipt(
    message: MtMessage,
    state: MessageState,
    *,
    now: float,
    expires_at: float,
    err: str = "000",
    done_at: datetime | None = None,
    sub: int = 1,
    dlvrd: int | None = None,
    tag: str = "",
    network_error_code: bytes | None = None,
    lease: Lease | None = None,
) -> Outgoing:
    """The receipt deliver_sm telling ``message``'s client about ``state``, as a queue item
    (leased as ``lease`` says, to be pushed) with the PDU it becomes. Its dates are in UTC
    (``done_at`` in any zone; None: ``now``)."""
    text = format_receipt(
        message.id,
        state=state,
        submit_date=_dt(message.submitted_at or now),
        done_date=_utc(done_at) if done_at is not None else _dt(now),
        sub=sub,
        dlvrd=dlvrd,
        err=err,
    )
    items: list[tuple[int, int | str | bytes]] = [
        (_RECEIPTED_MESSAGE_ID, message.id), (_MESSAGE_STATE, int(state)),
    ]  # fmt: skip
    if network_error_code is not None:
        items.append((_NETWORK_ERROR_CODE, network_error_code))
    tlvs = Tlvs(items)
    pdu = receipt_deliver_sm(
        original_source=(message.source_addr, message.source_addr_ton, message.source_addr_npi),
        original_destination=(
            message.destination_addr,
            message.dest_addr_ton,
            message.dest_addr_npi,
        ),
        short_message=text.encode("ascii"),
        tlvs=tlvs,
    )
    item = item_from_pdu(
        pdu,
        id=f"r{tag or int(state)}:{message.id}"[:_MAX_ITEM_ID],
        account=message.account,
        kind=DeliveryKind.RECEIPT,
        message_id=message.id,
        created_at=now,
        expires_at=expires_at,
        lease_until=lease.until if lease is not None else 0.0,
        lease_owner=lease.owner if lease is not None else "",
    )
    return Outgoing(item, pdu)
