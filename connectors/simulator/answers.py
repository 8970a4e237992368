"""How the simulator answers one submit under the current fault switches.

Owns: :class:`SubmitJudge`, which applies the submit faults of :mod:`.faults` in their
documented order (``drop_share``, ``rate_limit``, ``part_error``, ``throttle_share``,
``error_statuses``) and keeps what they need across submits: the ``rate_limit`` token
bucket (one per simulator, all sessions together) and how many answers the current
``part_error`` has given.  Sans-I/O: the time and the random source are inputs, so the rate
limit is tested without a clock.  Random draws are made only for switches that are on, so a
seed gives the same sequence as before a switch existed.
"""

from __future__ import annotations

import random
from typing import Final

from smppcore.gateway.ratelimit import TokenBucket
from smppcore.protocol.enums import CommandStatus
from smppcore.protocol.segment import ConcatInfo

from .faults import Faults, PartError

__all__ = ["DROP", "SubmitJudge", "rate_limit_burst"]

#: :meth:`SubmitJudge.judge`'s answer for a submit that gets no response at all.
DROP: Final = -1


def rate_limit_burst(rate: float) -> float:
    """The bucket size for ``rate`` submits per second: a tenth of a second's worth, at least 1."""
    return max(1.0, rate / 10.0)


class SubmitJudge:
    """Decides the command_status of each submit; not thread-safe (trio tasks only)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._bucket: TokenBucket | None = None
        self._bucket_rate = 0.0
        self._part_error: PartError | None = None
        self._part_errors_given = 0

    def judge(self, faults: Faults, concat: ConcatInfo | None, now: float) -> int:
        """The command_status to answer with (0: accept), or :data:`DROP`.

        ``concat`` is the submit's concatenation info (None for a message in one piece);
        ``now`` is the simulator's monotonic time when the submit was read.
        """
        rng = self._rng
        if faults.drop_share > 0 and rng.random() < faults.drop_share:
            return DROP
        if not self._take_token(faults.rate_limit, now):
            return CommandStatus.ESME_RTHROTTLED
        status = self._part_status(faults.part_error, concat)
        if status:
            return status
        if faults.throttle_share > 0 and rng.random() < faults.throttle_share:
            return CommandStatus.ESME_RTHROTTLED
        if faults.error_statuses:
            draw = rng.random()
            for status, share in faults.error_statuses.items():
                if draw < share:
                    return status
                draw -= share
        return CommandStatus.ESME_ROK

    def _take_token(self, rate: float, now: float) -> bool:
        if rate != self._bucket_rate:  # a new limit starts with a full bucket
            self._bucket_rate = rate
            self._bucket = TokenBucket(rate, rate_limit_burst(rate), now) if rate > 0 else None
        return self._bucket is None or self._bucket.try_acquire(now=now)

    def _part_status(self, setting: PartError | None, concat: ConcatInfo | None) -> int:
        if setting is not self._part_error:  # each value set counts on its own
            self._part_error, self._part_errors_given = setting, 0
        if setting is None or concat is None or concat.seq != setting.part:
            return 0
        if self._part_errors_given >= setting.times:
            return 0
        self._part_errors_given += 1
        return setting.status
