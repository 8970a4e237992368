"""Codec exceptions; every one of them carries the SMPP command_status to answer with.

Owns: :class:`SmppError` (the single base of everything the protocol package raises on
purpose), the local/remote split (we tried to send something invalid vs. the peer sent
something invalid) and one subclass per common status.
"""

from __future__ import annotations

from .enums import CommandStatus

__all__ = [
    "InvalidCommandId",
    "InvalidCommandLength",
    "InvalidDestFlag",
    "InvalidField",
    "InvalidMessageLength",
    "InvalidNumberOfDests",
    "InvalidTlvLength",
    "InvalidTlvStream",
    "InvalidTlvValue",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "SmppError",
]


class SmppError(Exception):
    """Base class of every exception the protocol package raises deliberately."""


class ProtocolError(SmppError):
    """A protocol violation, with the command_status that describes it.

    ``command_status`` defaults to the class attribute and can be overridden per
    instance; ``command_id`` and ``sequence_number`` identify the offending PDU when
    its header could be read (otherwise None).
    """

    command_status: int = CommandStatus.ESME_RUNKNOWNERR

    def __init__(
        self,
        message: str,
        *,
        command_status: int | None = None,
        command_id: int | None = None,
        sequence_number: int | None = None,
    ) -> None:
        super().__init__(message)
        if command_status is not None:
            self.command_status = command_status
        self.command_id = command_id
        self.sequence_number = sequence_number


class LocalProtocolError(ProtocolError):
    """We tried to encode something invalid (e.g. a too-long C-octet string)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something invalid."""


class InvalidCommandLength(RemoteProtocolError):
    """command_length out of range or inconsistent with the data (framing lost)."""

    command_status = CommandStatus.ESME_RINVCMDLEN


class InvalidCommandId(RemoteProtocolError):
    """Unknown or unsupported command_id."""

    command_status = CommandStatus.ESME_RINVCMDID


class InvalidMessageLength(RemoteProtocolError):
    """sm_length / short_message inconsistent or too long."""

    command_status = CommandStatus.ESME_RINVMSGLEN


class InvalidTlvStream(RemoteProtocolError):
    """TLV part malformed: length past the PDU end or 1-3 stray octets."""

    command_status = CommandStatus.ESME_RINVOPTPARSTREAM


class InvalidTlvLength(RemoteProtocolError):
    """A known TLV arrived with a length its type cannot have."""

    command_status = CommandStatus.ESME_RINVPARLEN


class InvalidTlvValue(RemoteProtocolError):
    """A known TLV arrived with an invalid value."""

    command_status = CommandStatus.ESME_RINVOPTPARAMVAL


class InvalidDestFlag(RemoteProtocolError):
    """submit_multi dest_flag other than 1 (SME) or 2 (distribution list)."""

    command_status = CommandStatus.ESME_RINVDESTFLAG


class InvalidNumberOfDests(RemoteProtocolError):
    """submit_multi number_of_dests is zero or too large."""

    command_status = CommandStatus.ESME_RINVNUMDESTS


class InvalidField(RemoteProtocolError):
    """A mandatory field is malformed or too long; ``command_status`` is field specific
    (ESME_RINVSRCADR, ESME_RINVDSTADR, ESME_RINVSCHED, ...) and ``field`` names it."""

    def __init__(
        self,
        message: str,
        *,
        field: str,
        command_status: int | None = None,
        command_id: int | None = None,
        sequence_number: int | None = None,
    ) -> None:
        super().__init__(
            message,
            command_status=command_status,
            command_id=command_id,
            sequence_number=sequence_number,
        )
        self.field = field
