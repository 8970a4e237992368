"""The submit policy chain: small rules with one job each, run in order, first "no" wins.

Owns: :class:`SubmitCheck` (the plain values of one submit the rules look at),
:class:`AccountRules` (what one account may send), the individual rules
(:func:`check_source_address`, :func:`check_source_ownership`,
:func:`check_destination_address`, :func:`check_content`) and :func:`check_static`, which
runs them in that order and returns the normalised addresses or the first
:class:`~smppcore.gateway.rejection.Rejection`.

Consent is deliberately *not* here: it needs a store lookup (async I/O). The caller runs
``check_static``, then looks up the suppression list with the normalised
``(source, destination)`` and, if suppressed, answers
:data:`~smppcore.gateway.rejection.SUPPRESSED` (``ESME_RX_R_APPN``, reason
``"suppressed"``). Throughput limits are also the caller's (see ``ratelimit``).

Content decisions:

* ``short_message`` longer than 254 octets, or ``sm_length`` disagreeing with it →
  ``ESME_RINVMSGLEN``.
* Data in **both** ``short_message`` and ``message_payload`` → ``ESME_RINVMSGLEN``
  (``"payload_in_both"``). The reference (§3.6) says not to; silently picking one would
  send text the client did not mean, so we refuse rather than guess.
* ``message_payload`` longer than ``AccountRules.max_payload`` → ``ESME_RINVMSGLEN``.
* UCS2 (data_coding 0x08) text of odd octet length → ``ESME_RINVMSGLEN``. With UDHI set
  the UDH (length ``udh_length``) is excluded first; a UDH longer than the data is
  ``"bad_udh"``.
* ``esm_class``: messaging mode 0 (default), 1 (datagram) and 3 (store & forward) pass;
  mode 2 (forward/transaction) needs a response after the delivery attempt, which a
  queueing gateway cannot give → ``ESME_RINVESMCLASS``. Message type must be normal
  (0x00) or, if ``AccountRules.allow_sme_acks``, an ESME delivery/manual ack
  (0x08/0x10); receipt types (0x04, 0x18, 0x20) in a submit → ``ESME_RINVESMCLASS``.
  UDHI (0x40) and reply path (0x80) pass.
* ``priority_flag`` > 3 → ``ESME_RINVPRTFLG``.
* ``registered_delivery`` with reserved bits 7-5 set → ``ESME_RINVREGDLVFLG``. (Value 3
  in bits 1-0, reserved in v3.4 but "success only" in v5.0, is accepted.)
"""

from __future__ import annotations

from typing import Final

import attrs

from smppcore.gateway.numbers import (
    AddressRules,
    Normalised,
    check_destination,
    check_source,
)
from smppcore.gateway.ownership import NumberSet
from smppcore.gateway.rejection import (
    ESME_RINVESMCLASS,
    ESME_RINVMSGLEN,
    ESME_RINVPRTFLG,
    ESME_RINVREGDLVFLG,
    ESME_RINVSRCADR,
    Rejection,
)

__all__ = [
    "Accepted",
    "AccountRules",
    "SubmitCheck",
    "check_content",
    "check_destination_address",
    "check_source_address",
    "check_source_ownership",
    "check_static",
]

MAX_SHORT_MESSAGE: Final = 254
DEFAULT_MAX_PAYLOAD: Final = 65535
DC_UCS2: Final = 0x08
ESM_MODE_MASK: Final = 0x03
ESM_MODE_FORWARD: Final = 0x02
ESM_TYPE_MASK: Final = 0x3C
ESM_UDHI: Final = 0x40
ESM_TYPE_NORMAL: Final = 0x00
ESM_SME_ACK_TYPES: Final = frozenset({0x08, 0x10})
REG_DLV_RESERVED: Final = 0xE0
MAX_PRIORITY: Final = 3


@attrs.frozen(slots=True)
class AccountRules:
    """What one account may send. Built from config by the caller, once."""

    owned: NumberSet
    source: AddressRules = attrs.field(factory=AddressRules)
    destination: AddressRules = attrs.field(factory=AddressRules)
    max_payload: int = DEFAULT_MAX_PAYLOAD
    allow_sme_acks: bool = False


@attrs.frozen(slots=True)
class SubmitCheck:
    """The values of one submit_sm the policy looks at (no PDU class dependency).

    ``short_message_len`` is the octet length of ``short_message``;
    ``message_payload_len`` is None when the TLV is absent; ``udh_length`` is the UDH's
    total octet length (1 + UDHL) when UDHI is set and the caller knows it, else 0.
    """

    account: str
    rules: AccountRules
    source_ton: int
    source_npi: int
    source_addr: str
    dest_ton: int
    dest_npi: int
    dest_addr: str
    data_coding: int = 0
    esm_class: int = 0
    priority_flag: int = 0
    registered_delivery: int = 0
    sm_length: int = 0
    short_message_len: int = 0
    message_payload_len: int | None = None
    udh_length: int = 0


@attrs.frozen(slots=True)
class Accepted:
    """Every static rule passed: the normalised addresses to queue with."""

    source: Normalised
    destination: Normalised


def check_source_address(check: SubmitCheck) -> Normalised | Rejection:
    """Source is a numeric, valid, reply-capable number (see ``numbers``)."""
    return check_source(check.source_ton, check.source_npi, check.source_addr, check.rules.source)


def check_source_ownership(check: SubmitCheck, source: Normalised) -> Rejection | None:
    """The account owns the (normalised) source number → else 0x0A ``not_owned``."""
    if check.rules.owned.owns(source.e164):
        return None
    return Rejection(ESME_RINVSRCADR, "not_owned")


def check_destination_address(check: SubmitCheck) -> Normalised | Rejection:
    """Destination is a valid SMS-capable number in an allowed country."""
    return check_destination(
        check.dest_ton, check.dest_npi, check.dest_addr, check.rules.destination
    )


def _check_esm_class(esm_class: int, allow_sme_acks: bool) -> Rejection | None:
    if esm_class & ESM_MODE_MASK == ESM_MODE_FORWARD:
        return Rejection(ESME_RINVESMCLASS, "unsupported_esm_class")
    msg_type = esm_class & ESM_TYPE_MASK
    if msg_type != ESM_TYPE_NORMAL and not (allow_sme_acks and msg_type in ESM_SME_ACK_TYPES):
        return Rejection(ESME_RINVESMCLASS, "unsupported_esm_class")
    return None


def _check_lengths(check: SubmitCheck) -> Rejection | None:
    sm_len = check.short_message_len
    if sm_len > MAX_SHORT_MESSAGE:
        return Rejection(ESME_RINVMSGLEN, "message_too_long")
    if check.sm_length != sm_len:
        return Rejection(ESME_RINVMSGLEN, "length_mismatch")
    payload = check.message_payload_len
    if payload is not None:
        if sm_len:
            return Rejection(ESME_RINVMSGLEN, "payload_in_both")
        if payload > check.rules.max_payload:
            return Rejection(ESME_RINVMSGLEN, "message_too_long")
    data_len = sm_len if payload is None else payload
    if check.esm_class & ESM_UDHI:
        if check.udh_length > data_len:
            return Rejection(ESME_RINVMSGLEN, "bad_udh")
        if check.udh_length == 0:
            return None  # UDH length unknown: parity cannot be judged
        data_len -= check.udh_length
    if check.data_coding == DC_UCS2 and data_len % 2:
        return Rejection(ESME_RINVMSGLEN, "odd_ucs2_length")
    return None


def check_content(check: SubmitCheck) -> Rejection | None:
    """Flags and lengths are consistent and supported (see module docstring)."""
    if check.priority_flag > MAX_PRIORITY:
        return Rejection(ESME_RINVPRTFLG, "bad_priority")
    if check.registered_delivery & REG_DLV_RESERVED:
        return Rejection(ESME_RINVREGDLVFLG, "bad_registered_delivery")
    esm = _check_esm_class(check.esm_class, check.rules.allow_sme_acks)
    if esm is not None:
        return esm
    return _check_lengths(check)


def check_static(check: SubmitCheck) -> Accepted | Rejection:
    """Run every rule except consent, in order; return the addresses or the first no."""
    source = check_source_address(check)
    if isinstance(source, Rejection):
        return source
    not_owned = check_source_ownership(check, source)
    if not_owned is not None:
        return not_owned
    destination = check_destination_address(check)
    if isinstance(destination, Rejection):
        return destination
    content = check_content(check)
    if content is not None:
        return content
    return Accepted(source, destination)
