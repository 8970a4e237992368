"""Fault injection settings of the simulator, switchable at run time.

Owns: :class:`Faults` (the current switches) and :func:`faults_from_mapping`, the checked
conversion from a JSON object (``POST /faults``) or keyword arguments.  The SMSC reads the
switches at the moment it decides about each PDU, so a change applies to the next PDU of
every live session.

Switches:

* ``throttle_share`` — share (0..1) of submits answered ``ESME_RTHROTTLED`` (no id, no receipt);
* ``response_delay`` — seconds to wait before answering each submit/data_sm/submit_multi;
* ``drop_share`` — share (0..1) of submits that get no response at all;
* ``disconnect_after`` — drop the TCP connection (no unbind) once a session has answered
  this many requests after its bind; 0 switches it off;
* ``refuse_binds`` — answer every bind ``ESME_RBINDFAIL``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["FaultError", "Faults", "faults_from_mapping"]


class FaultError(ValueError):
    """A fault setting with an unknown name or an out-of-range value."""


def _share(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultError(f"{name} must be a number between 0 and 1")
    if not 0.0 <= float(value) <= 1.0:
        raise FaultError(f"{name} must be between 0 and 1")
    return float(value)


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultError(f"{name} must be a number of seconds")
    if not (math.isfinite(float(value)) and 0.0 <= float(value) <= 3600.0):
        raise FaultError(f"{name} must be between 0 and 3600 seconds")
    return float(value)


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FaultError(f"{name} must be a non-negative integer")
    return value


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise FaultError(f"{name} must be true or false")
    return value


_CHECKS = {
    "throttle_share": _share,
    "response_delay": _seconds,
    "drop_share": _share,
    "disconnect_after": _count,
    "refuse_binds": _flag,
}


@attrs.frozen(kw_only=True)
class Faults:
    """One consistent set of fault switches; replace it as a whole to change faults."""

    throttle_share: float = 0.0
    response_delay: float = 0.0
    drop_share: float = 0.0
    disconnect_after: int = 0
    refuse_binds: bool = False

    @property
    def active(self) -> bool:
        return self != Faults()

    def updated(self, changes: Mapping[str, Any]) -> Faults:
        """A copy with ``changes`` applied (checked; unknown names raise :class:`FaultError`)."""
        return attrs.evolve(self, **faults_from_mapping(changes))

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def faults_from_mapping(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Checked keyword arguments for :class:`Faults` from a JSON-like mapping."""
    out: dict[str, Any] = {}
    for name, value in changes.items():
        check = _CHECKS.get(name)
        if check is None:
            raise FaultError(f"unknown fault {name!r} (one of: {', '.join(_CHECKS)})")
        out[name] = check(name, value)
    return out
