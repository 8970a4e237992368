"""Fault injection settings of the simulator, switchable at run time.

Owns: :class:`Faults` (the current switches), :class:`PartError` (the value of the
``part_error`` switch) and :func:`faults_from_mapping`, the checked conversion from a JSON
object (``POST /faults``) or keyword arguments.  Every value is checked and normalised when
a :class:`Faults` is built, however it is built; an unknown name or a bad value raises
:class:`FaultError` and changes nothing.  The SMSC reads the switches at the moment it
decides about each PDU, so a change applies to the next PDU of every live session.

Switches:

* ``throttle_share`` — share (0..1) of submits answered ``ESME_RTHROTTLED`` (no id, no receipt);
* ``error_statuses`` — a mix of error answers: command_status -> share (each 0..1, together
  at most 1), e.g. ``{0x08: 0.2, 0x45: 0.1, 0x401: 0.05}``.  One draw per submit picks at
  most one of them; the submit is answered with that status (no id, not recorded, no
  receipt).  In JSON the keys are strings, decimal or ``0x`` hex (``{"8": 0.2, "0x45": 0.1}``);
  a status must be 1..0xFFFFFFFF (0 is not an error);
* ``part_error`` — an error for one part of concatenated messages, as
  ``{"part": N, "status": S, "times": T}`` (``times`` defaults to 1; ``status`` an integer
  or a ``0x`` string) or ``None`` (off): the first ``T`` submits that carry part ``N``
  (``seq`` N of a concatenation UDH, 8- or 16-bit reference, with esm_class UDHI, or
  ``sar_segment_seqnum`` N), of any message and any session, are answered ``S``; later ones
  are handled as usual, so a retry of the part succeeds.  Each value set (every
  ``set_faults(part_error=...)`` or ``POST /faults`` naming it) starts its own count;
  changing other switches keeps it;
* ``rate_limit`` — submits per second the simulator takes over all its sessions together
  (a token bucket holding ``max(1, rate_limit / 10)`` tokens, full when the limit is set);
  a submit finding no token is answered ``ESME_RTHROTTLED``, the others go on to the
  switches after it.  0 switches it off;
* ``response_delay`` — seconds to wait before answering each submit/data_sm/submit_multi;
* ``drop_share`` — share (0..1) of submits that get no response at all (and are not
  accepted: decided before anything else);
* ``lose_answer_share`` — share (0..1) of *accepted* submits whose response is never sent:
  the message is taken (recorded, its receipt follows) but the ESME never learns it, the
  case a resend turns into a duplicate;
* ``disconnect_after`` — drop the TCP connection (no unbind) once a session has answered
  this many requests after its bind; 0 switches it off;
* ``refuse_binds`` — answer every bind ``ESME_RBINDFAIL``;
* ``freeze`` — the SMSC hangs with its connections open: it keeps reading but writes
  nothing on any SMPP connection (no responses, not even enquire_link_resp, no deliver_sm;
  the delivery workers wait for the thaw).  A request read while frozen is not acted on (a
  submit is not accepted: no id, not recorded, no receipt; a bind does not bind) and is not
  answered after the thaw either (only a request racing the thaw might still see its
  stand-in answer, ``ESME_RSYSERR``).  Switched off, the simulator answers what it reads
  from then on.  What was decided before the freeze but is written during it (a delayed
  response, a deliver_sm) is lost the same way and not counted as answered; a lost
  deliver_sm is sent again after its response timeout.  An unbind read while frozen still
  ends its session (the session layer handles it; its answer is lost).  The simulator's
  own keep-alive is lost too: on a link where the ESME sends nothing for the session's
  enquire_link_interval plus response_timeout (30 s + 10 s by default) the simulator ends
  the session; keep such freezes shorter, or give the simulator a ``session_config``
  without enquire_link.

For each submit read while not frozen the switches are applied in this order, the first
that fires deciding the answer: ``drop_share``, ``rate_limit``, ``part_error``,
``throttle_share``, ``error_statuses``; otherwise the submit is accepted.  So a share is the
share of the submits that reach its step (``error_statuses`` of 0.2 with ``throttle_share``
0.5 errors about 10 % of all submits).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs

__all__ = ["FaultError", "Faults", "PartError", "faults_from_mapping"]

_MAX_STATUS: Final = 0xFFFFFFFF
_MAX_PART: Final = 255  #: a concatenation UDH and sar_segment_seqnum hold one octet
_MAX_RATE: Final = 1_000_000.0
_SHARE_SLACK: Final = 1e-9  #: float sums such as 0.1 + 0.2 + 0.7


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


def _rate(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultError(f"{name} must be a number of submits per second")
    if not (math.isfinite(float(value)) and 0.0 <= float(value) <= _MAX_RATE):
        raise FaultError(f"{name} must be between 0 (off) and {_MAX_RATE:g} per second")
    return float(value)


def _status(name: str, value: object) -> int:
    """An error command_status: an int, or a string of decimal or ``0x`` hex digits."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = int(text[2:], 16) if text[:2].lower() == "0x" else int(text, 10)
        except ValueError:
            number = None
    if number is None or not 1 <= number <= _MAX_STATUS:
        raise FaultError(f"{name}: {value!r} is not an error status (1..0xFFFFFFFF)")
    return number


def _status_mix(name: str, value: object) -> Mapping[int, float]:
    if not isinstance(value, Mapping):
        raise FaultError(f"{name} must map command_status to a share")
    mix: dict[int, float] = {}
    for key, share in value.items():
        status = _status(name, key)
        if status in mix:
            raise FaultError(f"{name}: status {status:#x} is given twice")
        mix[status] = _share(f"{name}[{status:#x}]", share)
    if sum(mix.values()) > 1.0 + _SHARE_SLACK:
        raise FaultError(f"{name}: the shares add up to more than 1")
    return MappingProxyType({status: share for status, share in sorted(mix.items()) if share})


def _part(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_PART:
        raise FaultError(f"{name} must be an integer 1..{_MAX_PART}")
    return value


def _times(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FaultError(f"{name} must be a positive integer")
    return value


@attrs.frozen(kw_only=True)
class PartError:
    """The ``part_error`` switch: answer the first ``times`` submits of part ``part``
    (1-based) with ``status``."""

    part: int
    status: int
    times: int = 1

    def __attrs_post_init__(self) -> None:
        # Frozen: the checked, normalised values go in with object.__setattr__ (attrs' way).
        object.__setattr__(self, "part", _part("part_error.part", self.part))
        object.__setattr__(self, "status", _status("part_error.status", self.status))
        object.__setattr__(self, "times", _times("part_error.times", self.times))

    def as_dict(self) -> dict[str, int]:
        return {"part": self.part, "status": self.status, "times": self.times}


def _part_error(name: str, value: object) -> PartError | None:
    if value is None or isinstance(value, PartError):
        return value
    if not isinstance(value, Mapping):
        raise FaultError(f'{name} must be null or {{"part": N, "status": S, "times": T}}')
    unknown = set(value) - {"part", "status", "times"}
    if unknown:
        raise FaultError(f"{name}: unknown keys {sorted(map(str, unknown))}")
    if "part" not in value or "status" not in value:
        raise FaultError(f'{name} needs "part" and "status"')
    return PartError(**value)


_CHECKS: Final[Mapping[str, Callable[[str, object], Any]]] = {
    "throttle_share": _share,
    "response_delay": _seconds,
    "drop_share": _share,
    "lose_answer_share": _share,
    "disconnect_after": _count,
    "refuse_binds": _flag,
    "error_statuses": _status_mix,
    "part_error": _part_error,
    "rate_limit": _rate,
    "freeze": _flag,
}


@attrs.frozen(kw_only=True)
class Faults:
    """One consistent set of fault switches; replace it as a whole to change faults."""

    throttle_share: float = 0.0
    response_delay: float = 0.0
    drop_share: float = 0.0
    lose_answer_share: float = 0.0
    disconnect_after: int = 0
    refuse_binds: bool = False
    #: status -> share, read-only; ``hash=False``: a mapping does not hash.
    error_statuses: Mapping[int, float] = attrs.field(factory=dict, hash=False)
    part_error: PartError | None = None
    rate_limit: float = 0.0
    freeze: bool = False

    def __attrs_post_init__(self) -> None:
        # Frozen: the checked, normalised values go in with object.__setattr__ (attrs' way).
        for name, check in _CHECKS.items():
            object.__setattr__(self, name, check(name, getattr(self, name)))

    @property
    def active(self) -> bool:
        return self != Faults()

    def updated(self, changes: Mapping[str, Any]) -> Faults:
        """A copy with ``changes`` applied (checked; unknown names raise :class:`FaultError`)."""
        return attrs.evolve(self, **faults_from_mapping(changes))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``error_statuses`` keys are ints: JSON writes them as decimal strings,
        which :func:`faults_from_mapping` reads back)."""
        out = attrs.asdict(self, recurse=False)
        out["error_statuses"] = dict(self.error_statuses)
        out["part_error"] = self.part_error.as_dict() if self.part_error is not None else None
        return out


def faults_from_mapping(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Checked keyword arguments for :class:`Faults` from a JSON-like mapping."""
    out: dict[str, Any] = {}
    for name, value in changes.items():
        check = _CHECKS.get(name)
        if check is None:
            raise FaultError(f"unknown fault {name!r} (one of: {', '.join(_CHECKS)})")
        out[name] = check(name, value)
    return out
