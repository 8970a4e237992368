"""The ``freeze`` fault's machinery: a gate, and streams that write nothing while it is shut.

Owns: :class:`FreezeGate` (frozen or not, and a wait for the thaw), :class:`FreezableStream`
(a trio stream that discards what is written to it while the gate is frozen and passes
everything else through) and :class:`FreezableListener` (hands out such streams).  Every
SMPP connection of the simulator runs over a :class:`FreezableStream`, so a freeze silences
also what the session writes by itself (enquire_link_resp, generic_nack), which no handler
sees.  The connection hands the stream whole PDUs (one ``send_all`` per batch of encoded
PDUs), so discarding a whole ``send_all`` keeps the framing intact.
"""

from __future__ import annotations

import trio

__all__ = ["FreezableListener", "FreezableStream", "FreezeGate"]


class FreezeGate:
    """Whether the simulator is frozen; :meth:`wait_thawed` returns once it is not."""

    def __init__(self) -> None:
        self._frozen = False
        self._thawed = trio.Event()
        self._thawed.set()

    @property
    def frozen(self) -> bool:
        return self._frozen

    def set(self, frozen: bool) -> None:
        if frozen and not self._frozen:
            self._thawed = trio.Event()
        elif not frozen and self._frozen:
            self._thawed.set()
        self._frozen = frozen

    async def wait_thawed(self) -> None:
        while self._frozen:
            await self._thawed.wait()


class FreezableStream(trio.abc.Stream):
    """``stream``, except that ``send_all`` drops its data while ``gate`` is frozen."""

    def __init__(self, stream: trio.abc.Stream, gate: FreezeGate) -> None:
        self.transport_stream = stream
        self._gate = gate

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._gate.frozen:
            await trio.lowlevel.checkpoint()
            return
        await self.transport_stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport_stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.transport_stream.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.transport_stream.aclose()


class FreezableListener(trio.abc.Listener[FreezableStream]):
    """Accepts from ``listener`` and wraps each stream in a :class:`FreezableStream`."""

    def __init__(self, listener: trio.abc.Listener[trio.abc.Stream], gate: FreezeGate) -> None:
        self.transport_listener = listener
        self._gate = gate

    async def accept(self) -> FreezableStream:
        return FreezableStream(await self.transport_listener.accept(), self._gate)

    async def aclose(self) -> None:
        await self.transport_listener.aclose()
