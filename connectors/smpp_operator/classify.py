"""What a submit outcome means for the message: done, pause the connector, retry, or give up.

Owns :class:`Outcome` and :class:`Classifier`. ``ESME_RTHROTTLED`` and ``ESME_RMSGQFUL`` are
the operator asking us to slow down: the whole connector pauses and the same message is sent
again afterwards. Statuses in ``transient_statuses`` (the config's list; vendor codes
0x400-0x4FF may be listed there) and lost responses are retried later; everything else is
permanent.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from smppcore.protocol.enums import CommandStatus

__all__ = ["PAUSE_STATUSES", "REBIND_STATUSES", "Classifier", "Outcome"]

PAUSE_STATUSES = frozenset({int(CommandStatus.ESME_RTHROTTLED), int(CommandStatus.ESME_RMSGQFUL)})
#: Statuses about the bind, not the message (an SMSC that is unbinding answers
#: ESME_RINVBNDSTS): the same PDU is sent again on a bind that works.
REBIND_STATUSES = frozenset({int(CommandStatus.ESME_RINVBNDSTS)})


class Outcome(enum.Enum):
    OK = "ok"
    PAUSE = "pause"  #: the operator is overloaded: pause the connector, resend the same PDU
    REBIND = "rebind"  #: the bind is going away: resend the same PDU (as after a lost response)
    TRANSIENT = "transient"  #: try again later (nack with backoff)
    PERMANENT = "permanent"  #: final failure


class Classifier:
    """Maps a ``submit_sm_resp`` ``command_status`` to an :class:`Outcome`."""

    __slots__ = ("_transient",)

    def __init__(self, transient_statuses: Iterable[int]) -> None:
        self._transient = frozenset(int(s) for s in transient_statuses) - PAUSE_STATUSES

    def classify(self, status: int) -> Outcome:
        if status == 0:
            return Outcome.OK
        if status in PAUSE_STATUSES:
            return Outcome.PAUSE
        if status in REBIND_STATUSES:
            return Outcome.REBIND
        if status in self._transient:
            return Outcome.TRANSIENT
        return Outcome.PERMANENT
