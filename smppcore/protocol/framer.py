"""Stream framing: bytes from a TCP stream in, whole decoded PDUs (or failures) out.

Owns: the bounded receive buffer and the ``command_length`` check that happens from the
4-octet prefix *before* any body is buffered. A length below 16 or above the configured
maximum is fatal (framing is lost): the framer reports one fatal :class:`DecodeFailure`
and then never resynchronises on the garbage that follows. Decode errors of a
well-framed PDU are non-fatal failures that tell the session how to answer.
"""

from __future__ import annotations

from struct import Struct

import attrs

from .codec import decode
from .errors import InvalidCommandLength, RemoteProtocolError, SmppError
from .pdu import Pdu

__all__ = ["DEFAULT_MAX_COMMAND_LENGTH", "DecodeFailure", "Framer"]

DEFAULT_MAX_COMMAND_LENGTH = 70_000
_U32 = Struct(">I")
_U32x3 = Struct(">III")


@attrs.frozen
class DecodeFailure:
    """A PDU that could not be decoded, with what the session needs to answer it.

    fatal → generic_nack(command_status, sequence_number) then close; known request id →
    that request's ``_resp`` with command_status; unknown request id → generic_nack
    ESME_RINVCMDID; unknown or broken response → discard.
    """

    command_id: int | None
    sequence_number: int
    command_status: int
    fatal: bool
    error: SmppError


class Framer:
    """Incremental PDU framer (sans-I/O): ``receive_data`` then ``next_event`` until None.

    Buffering avoids copies on the common path: while nothing is left over, the received
    ``bytes`` object itself is the buffer, each PDU is one slice of it (or the object
    itself when one read carried exactly one PDU). Only a partial PDU left at the end of
    a read moves into a ``bytearray`` that accumulates until it is complete.
    """

    __slots__ = ("_buf", "_failed", "_pos", "max_command_length")

    def __init__(self, max_command_length: int = DEFAULT_MAX_COMMAND_LENGTH) -> None:
        if max_command_length < 16:
            raise ValueError("max_command_length must be at least 16")
        self.max_command_length = max_command_length
        self._buf: bytes | bytearray = b""
        self._pos = 0
        self._failed = False

    @property
    def buffered(self) -> int:
        """Octets received but not yet consumed."""
        return len(self._buf) - self._pos

    @property
    def failed(self) -> bool:
        """True after a fatal framing failure; no further events will be produced."""
        return self._failed

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the stream (ignored after a fatal failure)."""
        if self._failed or not data:
            return
        buf = self._buf
        if self._pos >= len(buf):  # everything consumed: the new bytes are the buffer
            self._buf = data if type(data) is bytes else bytes(data)
            self._pos = 0
            return
        if type(buf) is bytes:  # a partial PDU is left: accumulate from here on
            buf = self._buf = bytearray(memoryview(buf)[self._pos :])
            self._pos = 0
        buf += data

    def next_event(self) -> Pdu | DecodeFailure | None:
        """The next PDU or failure, or None when more bytes are needed (or after a fatal)."""
        if self._failed:
            return None
        buf = self._buf
        pos = self._pos
        size = len(buf)
        avail = size - pos
        if avail < 4:
            self._compact()
            return None
        (length,) = _U32.unpack_from(buf, pos)
        if length < 16 or length > self.max_command_length:
            return self._fatal(length, buf, pos, avail)
        if avail < length:
            self._compact()
            return None
        end = pos + length
        if type(buf) is bytes:
            data = buf if length == size else buf[pos:end]
        else:
            data = bytes(buf[pos:end])
        if end == size:  # all consumed: drop the buffer
            self._buf = b""
            self._pos = 0
        else:
            self._pos = end
        try:
            return decode(data)
        except RemoteProtocolError as exc:
            command_id, _, seq = _U32x3.unpack_from(data, 4)
            return DecodeFailure(
                command_id=command_id,
                sequence_number=seq,
                command_status=exc.command_status,
                fatal=False,
                error=exc,
            )

    def _compact(self) -> None:
        buf = self._buf
        if self._pos and type(buf) is bytearray:
            del buf[: self._pos]
            self._pos = 0

    def _fatal(self, length: int, buf: bytes | bytearray, pos: int, avail: int) -> DecodeFailure:
        command_id: int | None = None
        seq = 0
        if avail >= 16:
            command_id, _, seq = _U32x3.unpack_from(buf, pos + 4)
        elif avail >= 8:
            (command_id,) = _U32.unpack_from(buf, pos + 4)
        hint = " (looks like HTTP)" if length == 0x48545450 else ""
        err = InvalidCommandLength(
            f"command_length {length} outside 16..{self.max_command_length}{hint}",
            command_id=command_id,
            sequence_number=seq,
        )
        self._failed = True
        self._buf = b""
        self._pos = 0
        return DecodeFailure(
            command_id=command_id,
            sequence_number=seq,
            command_status=err.command_status,
            fatal=True,
            error=err,
        )
