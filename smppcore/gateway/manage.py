"""query_sm, cancel_sm and replace_sm on messages a client submitted earlier.

Owns: :func:`handle_query_sm`, :func:`handle_cancel_sm`, :func:`handle_replace_sm`.

Only messages of the *same account* are visible: a message of another account (or none)
gets exactly the same answer as an unknown id — ``ESME_RQUERYFAIL``, ``ESME_RCANCELFAIL``,
``ESME_RREPLACEFAIL`` — so ids of other accounts' messages cannot be probed.

* query_sm: ``message_state`` is the store's state on the wire (queued/leased → ENROUTE),
  ``final_date`` set once final, ``error_code`` the last upstream status (capped to one octet).
* cancel_sm: by ``message_id`` only, and only while the message is still QUEUED (not yet
  handed to an operator). Cancelling "all messages from source to destination" (empty
  ``message_id``) is not supported → ``ESME_RCANCELFAIL``.
* replace_sm: while QUEUED; the new ``short_message`` (or ``message_payload`` TLV),
  ``registered_delivery`` and, when given, schedule and validity replace the old ones.
  The new text, with the message's own ``data_coding`` and ``esm_class``, passes the same
  content rules as a submit (:func:`~smppcore.gateway.policy.check_content`: lengths, UCS2
  parity, UDH); a validity not after the new schedule is ``ESME_RINVEXPIRY``.
"""

from __future__ import annotations

from typing import Final

from smppcore.gateway.accounts import AccountRuntime
from smppcore.gateway.client import ClientSession
from smppcore.gateway.policy import (
    ESM_UDHI,
    MAX_SHORT_MESSAGE,
    REG_DLV_RESERVED,
    SubmitCheck,
    check_content,
)
from smppcore.gateway.smpptime import format_absolute, parse_smpp_time
from smppcore.protocol.enums import CommandStatus, TlvTag
from smppcore.protocol.pdu import CancelSm, Pdu, QuerySm, ReplaceSm
from smppcore.store.base import MtChanges, MtMessage

__all__ = ["handle_cancel_sm", "handle_query_sm", "handle_replace_sm"]

_QUERY_FAIL: Final = int(CommandStatus.ESME_RQUERYFAIL)
_CANCEL_FAIL: Final = int(CommandStatus.ESME_RCANCELFAIL)
_REPLACE_FAIL: Final = int(CommandStatus.ESME_RREPLACEFAIL)
_BAD_LENGTH: Final = int(CommandStatus.ESME_RINVMSGLEN)
_BAD_SCHEDULE: Final = int(CommandStatus.ESME_RINVSCHED)
_BAD_VALIDITY: Final = int(CommandStatus.ESME_RINVEXPIRY)
_BAD_REGDLV: Final = int(CommandStatus.ESME_RINVREGDLVFLG)
_PAYLOAD_TAG: Final = int(TlvTag.MESSAGE_PAYLOAD)
_TON_INTERNATIONAL: Final = 1
_NPI_ISDN: Final = 1


async def handle_query_sm(session: ClientSession, account: AccountRuntime, pdu: Pdu) -> None:
    assert isinstance(pdu, QuerySm)
    message = await session.gateway.store.get_mt(pdu.message_id) if pdu.message_id else None
    if message is None or message.account != account.system_id:
        await session.respond(pdu, pdu.response(_QUERY_FAIL))
        return
    final_date = format_absolute(message.final_at) if message.state.is_final else ""
    response = pdu.response(
        message_id=message.id,
        final_date=final_date,
        message_state=message.state.wire_state,
        error_code=min(message.error_code, 0xFF),
    )
    await session.respond(pdu, response)


async def handle_cancel_sm(session: ClientSession, account: AccountRuntime, pdu: Pdu) -> None:
    assert isinstance(pdu, CancelSm)
    gateway = session.gateway
    ok = bool(pdu.message_id) and await gateway.store.cancel_mt(
        pdu.message_id, account.system_id, gateway.clock()
    )
    await session.respond(pdu, pdu.response(0 if ok else _CANCEL_FAIL))


def _changes(pdu: ReplaceSm, now: float) -> MtChanges | int:
    raw = pdu.tlvs.get(_PAYLOAD_TAG) if pdu.tlvs else None
    if isinstance(raw, bytes):
        if pdu.short_message:
            return _BAD_LENGTH
        text = raw
    else:
        if len(pdu.short_message) > MAX_SHORT_MESSAGE:
            return _BAD_LENGTH
        text = pdu.short_message
    if pdu.registered_delivery & REG_DLV_RESERVED:
        return _BAD_REGDLV
    try:
        schedule = parse_smpp_time(pdu.schedule_delivery_time, now)
    except ValueError:
        return _BAD_SCHEDULE
    try:
        validity = parse_smpp_time(pdu.validity_period, now)
    except ValueError:
        return _BAD_VALIDITY
    if validity is not None and (validity <= now or (schedule or 0.0) >= validity):
        return _BAD_VALIDITY
    return MtChanges(
        payload=text,
        registered_delivery=pdu.registered_delivery,
        not_before=schedule,
        validity_until=validity,
    )


async def handle_replace_sm(session: ClientSession, account: AccountRuntime, pdu: Pdu) -> None:
    assert isinstance(pdu, ReplaceSm)
    gateway = session.gateway
    changes = _changes(pdu, gateway.clock())
    if isinstance(changes, int):
        await session.respond(pdu, pdu.response(changes))
        return
    message = await gateway.store.get_mt(pdu.message_id) if pdu.message_id else None
    if message is None or message.account != account.system_id:
        await session.respond(pdu, pdu.response(_REPLACE_FAIL))
        return
    refused = _content_refused(account, message, pdu, changes)
    if refused is not None:
        await session.respond(pdu, pdu.response(refused))
        return
    ok = await gateway.store.replace_mt(pdu.message_id, account.system_id, changes)
    await session.respond(pdu, pdu.response(0 if ok else _REPLACE_FAIL))


def _content_refused(
    account: AccountRuntime, message: MtMessage, pdu: ReplaceSm, changes: MtChanges
) -> int | None:
    """The submit content rules for the new text with the message's coding and flags."""
    text = changes.payload or b""
    in_payload = pdu.tlvs is not None and isinstance(pdu.tlvs.get(_PAYLOAD_TAG), bytes)
    short = 0 if in_payload else len(text)
    check = SubmitCheck(
        account=account.system_id,
        rules=account.rules,
        source_ton=_TON_INTERNATIONAL,
        source_npi=_NPI_ISDN,
        source_addr=message.source_addr,
        dest_ton=_TON_INTERNATIONAL,
        dest_npi=_NPI_ISDN,
        dest_addr=message.destination_addr,
        data_coding=message.data_coding,
        esm_class=message.esm_class,
        priority_flag=message.priority,
        registered_delivery=pdu.registered_delivery,
        sm_length=short,
        short_message_len=short,
        message_payload_len=len(text) if in_payload else None,
        udh_length=text[0] + 1 if message.esm_class & ESM_UDHI and text else 0,
    )
    refused = check_content(check)
    return None if refused is None else refused.status
