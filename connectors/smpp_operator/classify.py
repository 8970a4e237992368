"""What a submit outcome means for the message: done, resend (throttled), retry, or give up.

Owns :class:`Outcome` and :class:`Classifier`. ``ESME_RTHROTTLED`` and ``ESME_RMSGQFUL`` are
the operator asking us to slow down: the same segment is sent again in place and the
connector's send rate adapts (:mod:`.throttle`). Statuses in ``transient_statuses`` (the
config's list; vendor codes 0x400-0x4FF may be listed there) and lost responses are retried
later; everything else is permanent.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from smppcore.protocol.enums import CommandStatus

__all__ = ["REBIND_STATUSES", "THROTTLE_STATUSES", "Classifier", "Outcome"]

THROTTLE_STATUSES = frozenset(
    {int(CommandStatus.ESME_RTHROTTLED), int(CommandStatus.ESME_RMSGQFUL)}
)
#: Statuses about the bind, not the message (an SMSC that is unbinding answers
#: ESME_RINVBNDSTS): the same PDU is sent again on a bind that works.
REBIND_STATUSES = frozenset({int(CommandStatus.ESME_RINVBNDSTS)})


class Outcome(enum.Enum):
    OK = "ok"
    THROTTLED = "throttled"  #: the operator is overloaded: resend the same PDU (rate adapts)
    REBIND = "rebind"  #: the bind is going away: resend the same PDU (as after a lost response)
    TRANSIENT = "transient"  #: try again later (nack with backoff)
    PERMANENT = "permanent"  #: final failure


class Classifier:
    """Maps a ``submit_sm_resp`` ``command_status`` to an :class:`Outcome`."""

    __slots__ = ("_transient",)

    def __init__(self, transient_statuses: Iterable[int]) -> None:
        self._transient = frozenset(int(s) for s in transient_statuses) - THROTTLE_STATUSES

    def classify(self, status: int) -> Outcome:
        if status == 0:
            return Outcome.OK
        if status in THROTTLE_STATUSES:
            return Outcome.THROTTLED
        if status in REBIND_STATUSES:
            return Outcome.REBIND
        if status in self._transient:
            return Outcome.TRANSIENT
        return Outcome.PERMANENT
