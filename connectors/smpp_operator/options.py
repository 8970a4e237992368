"""The SMPP operator connector's own settings, read from ``[connectors.options]``.

Owns :class:`OperatorOptions` and :func:`parse_options`. Everything has a default that suits
a real operator; tests shorten the timers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from smppcore.protocol.segment import SplitMode

__all__ = ["OperatorOptions", "parse_options"]


@attrs.frozen(kw_only=True)
class OperatorOptions:
    poll_interval: float = 0.5  #: seconds between queue polls when nobody calls wake()
    lease_seconds: float = 120.0  #: how long a leased message stays ours
    max_leased: int = 0  #: messages leased at once; 0 = max(64, 2 x binds x window)
    intake_window: int = 0  #: deliver_sm in flight per bind (being made durable); 0 = window
    #: seconds of answers (at least) the send rate adapts on, see throttle.py
    throttle_window: float = 1.0
    retry_initial: float = 5.0  #: first nack delay after a transient failure
    retry_max: float = 600.0
    max_attempts: int = 20  #: failed submits of one message before it is UNDELIVERABLE
    resend_limit: int = 3  #: in-place resends of one segment after a timeout / lost bind
    split_mode: SplitMode = SplitMode.UDH8
    connect_timeout: float = 10.0
    rng_seed: int | None = None  #: jitter seed (tests)


_FLOATS = ("poll_interval", "lease_seconds", "throttle_window", "retry_initial",
           "retry_max", "connect_timeout")  # fmt: skip
_INTS = ("max_leased", "intake_window", "max_attempts", "resend_limit")


def parse_options(raw: Mapping[str, Any]) -> OperatorOptions:
    """Validate the free-form options table; unknown keys are an error (typos show)."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _FLOATS:
            number = float(value)
            if not number > 0:
                raise ValueError(f"option {key} must be positive")
            values[key] = number
        elif key in _INTS:
            integer = int(value)
            if integer < 0:
                raise ValueError(f"option {key} must not be negative")
            values[key] = integer
        elif key == "split_mode":
            values[key] = SplitMode(str(value))
        elif key == "rng_seed":
            values[key] = None if value is None else int(value)
        else:
            raise ValueError(f"unknown option {key!r} for the smpp connector")
    return OperatorOptions(**values)
