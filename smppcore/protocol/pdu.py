"""PDU value classes: one frozen, keyword-only attrs class per SMPP 3.4 operation.

Owns: the :class:`Pdu` base (``sequence_number``, ``command_status``, ``tlvs``), the
mandatory fields of every PDU with the spec's names and sensible defaults, the submit_multi
composites, request→response pairing and the command-id registry. No wire logic lives
here: see :mod:`smppcore.protocol.codec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from .enums import CommandId
from .tlv import EMPTY_TLVS, Tlvs

__all__ = [
    "PDU_CLASSES",
    "AlertNotification",
    "BindReceiver",
    "BindReceiverResp",
    "BindTransceiver",
    "BindTransceiverResp",
    "BindTransmitter",
    "BindTransmitterResp",
    "CancelSm",
    "CancelSmResp",
    "DataSm",
    "DataSmResp",
    "DeliverSm",
    "DeliverSmResp",
    "DistributionList",
    "EnquireLink",
    "EnquireLinkResp",
    "GenericNack",
    "Outbind",
    "Pdu",
    "QuerySm",
    "QuerySmResp",
    "ReplaceSm",
    "ReplaceSmResp",
    "SmeAddress",
    "SubmitMulti",
    "SubmitMultiResp",
    "SubmitSm",
    "SubmitSmResp",
    "Unbind",
    "UnbindResp",
    "UnsuccessSme",
    "is_response",
]

_RESPONSE_BIT = 0x80000000


def is_response(command_id: int) -> bool:
    """True when bit 31 of *command_id* is set (responses and generic_nack)."""
    return bool(command_id & _RESPONSE_BIT)


@attrs.frozen(kw_only=True, slots=False)
class Pdu:
    """Common base: header fields and the TLV multimap shared by every PDU."""

    command_id: ClassVar[CommandId]
    response_class: ClassVar[type[Pdu] | None] = None

    sequence_number: int = 0
    command_status: int = 0
    tlvs: Tlvs = EMPTY_TLVS

    def response(self, command_status: int = 0, **fields: Any) -> Pdu:
        """The matching response with the same sequence_number."""
        cls = self.response_class
        if cls is None:
            raise TypeError(f"{type(self).__name__} has no response PDU")
        return cls(sequence_number=self.sequence_number, command_status=command_status, **fields)


# --- header-only and session PDUs -----------------------------------------------------


@attrs.frozen(kw_only=True, slots=False)
class GenericNack(Pdu):
    command_id: ClassVar[CommandId] = CommandId.GENERIC_NACK


@attrs.frozen(kw_only=True, slots=False)
class EnquireLinkResp(Pdu):
    command_id: ClassVar[CommandId] = CommandId.ENQUIRE_LINK_RESP


@attrs.frozen(kw_only=True, slots=False)
class EnquireLink(Pdu):
    command_id: ClassVar[CommandId] = CommandId.ENQUIRE_LINK
    response_class: ClassVar[type[Pdu] | None] = EnquireLinkResp


@attrs.frozen(kw_only=True, slots=False)
class UnbindResp(Pdu):
    command_id: ClassVar[CommandId] = CommandId.UNBIND_RESP


@attrs.frozen(kw_only=True, slots=False)
class Unbind(Pdu):
    command_id: ClassVar[CommandId] = CommandId.UNBIND
    response_class: ClassVar[type[Pdu] | None] = UnbindResp


@attrs.frozen(kw_only=True, slots=False)
class _BindRespBase(Pdu):
    system_id: str = ""


@attrs.frozen(kw_only=True, slots=False)
class BindTransmitterResp(_BindRespBase):
    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSMITTER_RESP


@attrs.frozen(kw_only=True, slots=False)
class BindReceiverResp(_BindRespBase):
    command_id: ClassVar[CommandId] = CommandId.BIND_RECEIVER_RESP


@attrs.frozen(kw_only=True, slots=False)
class BindTransceiverResp(_BindRespBase):
    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSCEIVER_RESP


@attrs.frozen(kw_only=True, slots=False)
class _BindBase(Pdu):
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@attrs.frozen(kw_only=True, slots=False)
class BindTransmitter(_BindBase):
    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSMITTER
    response_class: ClassVar[type[Pdu] | None] = BindTransmitterResp


@attrs.frozen(kw_only=True, slots=False)
class BindReceiver(_BindBase):
    command_id: ClassVar[CommandId] = CommandId.BIND_RECEIVER
    response_class: ClassVar[type[Pdu] | None] = BindReceiverResp


@attrs.frozen(kw_only=True, slots=False)
class BindTransceiver(_BindBase):
    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSCEIVER
    response_class: ClassVar[type[Pdu] | None] = BindTransceiverResp


@attrs.frozen(kw_only=True, slots=False)
class Outbind(Pdu):
    """SMSC → ESME; no response PDU exists."""

    command_id: ClassVar[CommandId] = CommandId.OUTBIND
    system_id: str = ""
    password: str = ""


@attrs.frozen(kw_only=True, slots=False)
class AlertNotification(Pdu):
    """SMSC → ESME; no response PDU exists."""

    command_id: ClassVar[CommandId] = CommandId.ALERT_NOTIFICATION
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    esme_addr_ton: int = 0
    esme_addr_npi: int = 0
    esme_addr: str = ""


# --- message PDUs ------------------------------------------------------------------------


@attrs.frozen(kw_only=True, slots=False)
class _MessageIdResp(Pdu):
    message_id: str = ""


@attrs.frozen(kw_only=True, slots=False)
class SubmitSmResp(_MessageIdResp):
    command_id: ClassVar[CommandId] = CommandId.SUBMIT_SM_RESP


@attrs.frozen(kw_only=True, slots=False)
class DeliverSmResp(_MessageIdResp):
    """message_id is unused (always NULL on the wire in practice)."""

    command_id: ClassVar[CommandId] = CommandId.DELIVER_SM_RESP


@attrs.frozen(kw_only=True, slots=False)
class DataSmResp(_MessageIdResp):
    command_id: ClassVar[CommandId] = CommandId.DATA_SM_RESP


@attrs.frozen(kw_only=True, slots=False)
class _ShortMessageBase(Pdu):
    """The submit_sm / deliver_sm field list (reference §3.6, §3.8)."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


@attrs.frozen(kw_only=True, slots=False)
class SubmitSm(_ShortMessageBase):
    command_id: ClassVar[CommandId] = CommandId.SUBMIT_SM
    response_class: ClassVar[type[Pdu] | None] = SubmitSmResp


@attrs.frozen(kw_only=True, slots=False)
class DeliverSm(_ShortMessageBase):
    command_id: ClassVar[CommandId] = CommandId.DELIVER_SM
    response_class: ClassVar[type[Pdu] | None] = DeliverSmResp


@attrs.frozen(kw_only=True, slots=False)
class DataSm(Pdu):
    command_id: ClassVar[CommandId] = CommandId.DATA_SM
    response_class: ClassVar[type[Pdu] | None] = DataSmResp
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0


@attrs.frozen(kw_only=True, slots=False)
class SmeAddress:
    """submit_multi destination with dest_flag 1."""

    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""


@attrs.frozen(kw_only=True, slots=False)
class DistributionList:
    """submit_multi destination with dest_flag 2."""

    dl_name: str = ""


@attrs.frozen(kw_only=True, slots=False)
class UnsuccessSme:
    """One failed destination in submit_multi_resp."""

    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    error_status_code: int = 0


@attrs.frozen(kw_only=True, slots=False)
class SubmitMultiResp(Pdu):
    command_id: ClassVar[CommandId] = CommandId.SUBMIT_MULTI_RESP
    message_id: str = ""
    unsuccess_smes: tuple[UnsuccessSme, ...] = ()


@attrs.frozen(kw_only=True, slots=False)
class SubmitMulti(Pdu):
    command_id: ClassVar[CommandId] = CommandId.SUBMIT_MULTI
    response_class: ClassVar[type[Pdu] | None] = SubmitMultiResp
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addresses: tuple[SmeAddress | DistributionList, ...] = ()
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


@attrs.frozen(kw_only=True, slots=False)
class QuerySmResp(Pdu):
    command_id: ClassVar[CommandId] = CommandId.QUERY_SM_RESP
    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0


@attrs.frozen(kw_only=True, slots=False)
class QuerySm(Pdu):
    command_id: ClassVar[CommandId] = CommandId.QUERY_SM
    response_class: ClassVar[type[Pdu] | None] = QuerySmResp
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""


@attrs.frozen(kw_only=True, slots=False)
class CancelSmResp(Pdu):
    command_id: ClassVar[CommandId] = CommandId.CANCEL_SM_RESP


@attrs.frozen(kw_only=True, slots=False)
class CancelSm(Pdu):
    command_id: ClassVar[CommandId] = CommandId.CANCEL_SM
    response_class: ClassVar[type[Pdu] | None] = CancelSmResp
    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""


@attrs.frozen(kw_only=True, slots=False)
class ReplaceSmResp(Pdu):
    command_id: ClassVar[CommandId] = CommandId.REPLACE_SM_RESP


@attrs.frozen(kw_only=True, slots=False)
class ReplaceSm(Pdu):
    command_id: ClassVar[CommandId] = CommandId.REPLACE_SM
    response_class: ClassVar[type[Pdu] | None] = ReplaceSmResp
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


_ALL: tuple[type[Pdu], ...] = (
    GenericNack,
    BindReceiver,
    BindReceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    BindTransceiver,
    BindTransceiverResp,
    Outbind,
    Unbind,
    UnbindResp,
    EnquireLink,
    EnquireLinkResp,
    SubmitSm,
    SubmitSmResp,
    DeliverSm,
    DeliverSmResp,
    DataSm,
    DataSmResp,
    SubmitMulti,
    SubmitMultiResp,
    QuerySm,
    QuerySmResp,
    CancelSm,
    CancelSmResp,
    ReplaceSm,
    ReplaceSmResp,
    AlertNotification,
)

#: Every PDU class by wire command id.
PDU_CLASSES: Mapping[int, type[Pdu]] = {int(cls.command_id): cls for cls in _ALL}
