"""What the data commands (``erase``, ``export``, ``optout``) accept and how they print it.

Owns: :func:`handset_forms` (a typed MSISDN checked and turned into the forms to look up),
:func:`resolve_scope` (a ``--scope`` checked against the config), :func:`named_scopes` (the
scopes the config defines, to name a hashed suppression entry) and :func:`readable` (records
with times as ISO-8601 UTC strings and states by name). Pure: no I/O, no store.

A handset number is accepted when it is a plausible E.164 number: digits with an optional
leading ``+`` (people's separators `` -.()/`` are dropped), written internationally or
nationally for ``[policy] default_country`` (the normalisation handset replies get), and of
a length phonenumbers calls *possible* for its country. That is looser than the submit
check (valid, mobile) on purpose: a record the gateway stored under older metadata must
still be found and erased. Errors never repeat the number typed.

A consent scope (see :mod:`smppcore.gateway.privacy`, ``Gateway`` submit and reply paths)
is an account's ``system_id`` or one of our sender numbers (E.164), which some account must
own (``source_numbers``).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterator, Mapping
from typing import Final

import phonenumbers

from smppcore.config import Config
from smppcore.gateway.replies import normalise_mo_address
from smppcore.logs import mask_numbers
from smppcore.store.base import DeliveryKind, MtState

__all__ = ["ArgumentProblem", "handset_forms", "named_scopes", "readable", "resolve_scope"]

_SEPARATORS: Final = " -.()/"
_MAX_E164_DIGITS: Final = 15
_MAX_RANGE_NAMED: Final = 10_000  # source ranges up to this size are enumerated to name scopes

#: Enum-valued fields per exported data class: shown by name.
_ENUM_FIELDS: Final[Mapping[str, Mapping[str, type[enum.IntEnum]]]] = {
    "mt_messages": {"state": MtState, "segment_states": MtState},
    "delivery_items": {"kind": DeliveryKind},
}


class ArgumentProblem(ValueError):
    """A command-line value the data commands refuse; the message never holds a number."""


def _compact(typed: str) -> str:
    return "".join(ch for ch in typed.strip() if ch not in _SEPARATORS)


def handset_e164(config: Config, typed: str) -> str:
    """The E.164 digits (no ``+``) of a typed handset number; ArgumentProblem if it is none."""
    compact = _compact(typed)
    digits = compact[1:] if compact.startswith("+") else compact
    if not (digits and digits.isascii() and digits.isdigit()):
        raise ArgumentProblem(
            "MSISDN is not a phone number: use digits, an optional leading '+' and the"
            f" separators {_SEPARATORS.strip()!r} or spaces"
        )
    region = config.policy.default_country
    e164 = normalise_mo_address(compact, 0, region)
    try:
        number = phonenumbers.parse("+" + (e164 or ""), None)
    except phonenumbers.NumberParseException:
        raise ArgumentProblem(
            "MSISDN is not a phone number: no country code starts it (write it"
            f" internationally, or nationally with a leading 0 for {region})"
        ) from None
    if len(e164 or "") > _MAX_E164_DIGITS or not phonenumbers.is_possible_number(number):
        raise ArgumentProblem(
            f"MSISDN is not a phone number: wrong length for a +{number.country_code} number"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


def handset_forms(config: Config, typed: str) -> list[str]:
    """The typed number and its E.164 form (when it differs): the forms records are found
    under. ArgumentProblem when it is not a phone number."""
    e164 = handset_e164(config, typed)
    return [typed] if e164 == typed else [typed, e164]


def resolve_scope(config: Config, typed: str) -> str:
    """The scope a ``--scope`` value names: an account's system_id as typed, or the E.164
    form of a sender number an account owns. ArgumentProblem otherwise."""
    if config.account(typed) is not None:
        return typed
    accounts = ", ".join(a.system_id for a in config.accounts) or "none configured"
    shown = mask_numbers(typed)
    compact = _compact(typed)
    e164 = normalise_mo_address(compact, 0, config.policy.default_country)
    if e164 and any(a.owns_source(e164) for a in config.accounts):
        return e164
    raise ArgumentProblem(
        f"--scope {shown!r} is neither an account's system_id ({accounts}) nor a sender"
        " number an account owns (accounts[].source_numbers)"
    )


def _pattern_numbers(kind: str, low: str, high: str) -> Iterator[str]:
    if kind == "exact":
        yield low
    elif kind == "range" and int(high) - int(low) < _MAX_RANGE_NAMED:
        for value in range(int(low), int(high) + 1):
            yield str(value).zfill(len(low))


def named_scopes(config: Config, hash_of: Callable[[str], str]) -> dict[str, str]:
    """``scope hash -> scope`` for every account and every sender number the config names
    (ranges up to 10,000 numbers; prefixes cannot be listed)."""
    names = {hash_of(a.system_id): a.system_id for a in config.accounts}
    for account in config.accounts:
        for pattern in account.source_numbers:
            for number in _pattern_numbers(pattern.kind, pattern.low, pattern.high):
                names.setdefault(hash_of(number), number)
    return names


def iso_utc(value: float) -> str | None:
    """``2026-12-04T21:00:00Z`` (milliseconds when there are any); None for 0 (not set)."""
    if value == 0:
        return None
    try:
        when = dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return str(value)
    spec = "milliseconds" if when.microsecond >= 1000 else "seconds"
    return when.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _is_time(name: str) -> bool:
    return name in ("at", "not_before") or name.endswith(("_at", "_until"))


def _by_name(kind: type[enum.IntEnum], value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return kind(value).name
        except ValueError:
            return value  # an unknown value stays a number
    if isinstance(value, Mapping):
        return {k: _by_name(kind, v) for k, v in value.items()}
    return value


def _record(record: Mapping[str, object], enums: Mapping[str, type[enum.IntEnum]]) -> object:
    out: dict[str, object] = {}
    for name, value in record.items():
        if name in enums:
            out[name] = _by_name(enums[name], value)
        elif _is_time(name) and isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = iso_utc(value)
        else:
            out[name] = value
    return out


def readable(records: Mapping[str, object]) -> dict[str, object]:
    """Export records (data class -> list of dicts) with every time field as an ISO-8601
    UTC string (null when unset) and states and kinds by name."""
    out: dict[str, object] = {}
    for kind, rows in records.items():
        enums = _ENUM_FIELDS.get(kind, {})
        if isinstance(rows, list):
            out[kind] = [_record(r, enums) if isinstance(r, Mapping) else r for r in rows]
        else:
            out[kind] = rows
    return out
