"""Raw-socket helpers for network tests: a peer that speaks bytes, not our API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from smppcore.net.server import listener_port, serve_smpp
from smppcore.protocol.codec import encode
from smppcore.protocol.framer import Framer
from smppcore.protocol.pdu import Pdu


class RawPeer:
    """A TCP peer that sends arbitrary bytes and reads whole PDUs back."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.framer = Framer()

    async def send(self, pdu: Pdu | bytes) -> None:
        await self.stream.send_all(pdu if isinstance(pdu, bytes) else encode(pdu))

    async def read(self) -> Pdu | None:
        """The next PDU, or None at EOF."""
        while True:
            event = self.framer.next_event()
            if event is not None:
                assert isinstance(event, Pdu), event
                return event
            data = await self.stream.receive_some(65536)
            if not data:
                return None
            self.framer.receive_data(bytes(data))


@asynccontextmanager
async def running_server(handler: Any, **kwargs: Any) -> AsyncIterator[int]:
    """Run serve_smpp on 127.0.0.1:0 for the block; yields the port."""
    async with trio.open_nursery() as nursery:
        port = listener_port(
            await nursery.start(
                lambda task_status: serve_smpp(
                    handler, "127.0.0.1", 0, task_status=task_status, **kwargs
                )
            )
        )
        yield port
        nursery.cancel_scope.cancel()
