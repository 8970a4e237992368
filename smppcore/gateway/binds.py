"""Live client binds, per account, and the wake-ups that follow them.

The SMSC-role server registers every bound client session here; client delivery
(:mod:`smppcore.gateway.delivery`) asks it for an account's receiver-capable sessions
(bind_receiver or bind_transceiver), and an account's sender with no such session sleeps on
:meth:`BindRegistry.wait_for_change` until one binds (:meth:`BindRegistry.notify`). This is
the daemon's local view; with several daemons on one Redis store each daemon delivers over
its own binds and the durable queue is shared.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterator
from typing import Any

import attrs
import trio


class BindType(enum.Enum):
    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"
    TRANSCEIVER = "transceiver"

    @property
    def can_receive(self) -> bool:
        return self is not BindType.TRANSMITTER

    @property
    def can_submit(self) -> bool:
        return self is not BindType.RECEIVER


@attrs.define(eq=False)
class ClientBind:
    """One bound client session. ``connection`` is the ``SmppConnection`` serving it."""

    id: int
    account: str
    bind_type: BindType
    connection: Any
    peer: str  # "ip:port", for logs (no personal data)


class BindRegistry:
    """Which client sessions are bound, per account, in this daemon."""

    def __init__(self) -> None:
        self._binds: dict[str, dict[int, ClientBind]] = {}
        self._events: dict[str, trio.Event] = {}
        self._ids = itertools.count(1)

    def add(self, account: str, bind_type: BindType, connection: Any, peer: str) -> ClientBind:
        bind = ClientBind(next(self._ids), account, bind_type, connection, peer)
        self._binds.setdefault(account, {})[bind.id] = bind
        self.notify(account)
        return bind

    def remove(self, bind: ClientBind) -> None:
        binds = self._binds.get(bind.account)
        if binds is not None and binds.pop(bind.id, None) is not None:
            if not binds:
                del self._binds[bind.account]
            self.notify(bind.account)

    def count(self, account: str) -> int:
        return len(self._binds.get(account, ()))

    def count_by_type(self, account: str, bind_type: BindType) -> int:
        return sum(1 for b in self._binds.get(account, {}).values() if b.bind_type is bind_type)

    def receivers(self, account: str) -> list[ClientBind]:
        """Sessions of ``account`` that may be sent deliver_sm, oldest bind first."""
        return [b for b in self._binds.get(account, {}).values() if b.bind_type.can_receive]

    def accounts(self) -> list[str]:
        return list(self._binds)

    def __iter__(self) -> Iterator[ClientBind]:
        for binds in list(self._binds.values()):
            yield from list(binds.values())

    def notify(self, account: str) -> None:
        """A bind of ``account`` came or went."""
        event = self._events.pop(account, None)
        if event is not None:
            event.set()

    async def wait_for_change(self, account: str, timeout: float) -> None:
        """Sleep until :meth:`notify` for ``account`` or ``timeout`` seconds pass."""
        event = self._events.get(account)
        if event is None:
            event = self._events[account] = trio.Event()
        with trio.move_on_after(timeout):
            await event.wait()
