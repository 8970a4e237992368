"""Classify and normalise SMPP addresses (TON, NPI, digits) into E.164 numbers.

Owns: the rules that decide whether a ``source_addr`` is a reply-capable MSISDN and whether
a ``destination_addr`` is a number we deliver to, and the normalisation of both to E.164
digits (no ``+``) plus the ISO region. Pure and I/O-free; results are cached in an LRU
keyed by every input, so the per-submit cost is a dict lookup for repeated addresses.

Decisions (in the order they are checked):

* **Empty** address → ``invalid_number``. (SMPP lets a NULL ``source_addr`` mean "SMSC
  inserts a default"; the gateway requires an owned, reply-capable number, so a caller
  that wants defaults substitutes one *before* calling.)
* **Alphanumeric**: TON 5, or *any* letter anywhere (Unicode letters included, whatever
  the TON says) → ``ESME_RINV{SRC,DST}ADR`` ``alphanumeric``. This runs before the TON
  check on purpose: an alphanumeric sender is never routable or reply-capable, and its
  status must not depend on which TON the client happened to set.
* **TON**: 1 (international), 2 (national) and 0 (unknown) are accepted; anything else
  (3 network-specific, 4 subscriber, 6 abbreviated, reserved values) → ``bad_ton``.
  National (2) needs a ``default_region``; without one it is ``bad_ton`` too.
* **NPI**: 1 (ISDN/E.164) always; 0 (unknown) only together with TON 0 (the common
  "0/0 — let the SMSC analyse the digits" form). Anything else → ``bad_npi``.
* **Characters**: ASCII digits only. A single leading ``+`` is tolerated with TON 1 or 0:
  the reference says no ``+`` on the wire, but a leading ``+`` *means* "international",
  which is what TON 1 already says (redundant, harmless) and which resolves TON 0
  unambiguously. With TON 2 a ``+`` contradicts the TON, so it is ``bad_format``, as are
  spaces, dashes and any other character.
* **Number**: parsed with ``phonenumbers``: TON 1 (or TON 0 with a ``+`` or no default
  region) as international digits, TON 2 and TON 0 with a default region as a national
  number of that region (a trunk ``0`` and a repeated country code are stripped by the
  library). It must be *valid* for its region (right length *and* an allocated range);
  with ``accept_possible=True`` a number that is merely *possible* (right length for the
  country) is accepted too — for test ranges and demos, never the default. More than 15
  digits, too short, or invalid → ``invalid_number``.
* **Type**: the number type must be in ``allowed_types`` (default: mobile and
  fixed-line-or-mobile — the types a handset can reply from / receive on) →
  otherwise ``not_reply_capable``. A number accepted only as *possible* has no known type,
  so the type check is skipped for it (that is what ``accept_possible`` is for).
* **Country**: if ``allowed_regions`` is set, the number's region must be in it →
  ``country_not_allowed``.

The demo range +27600000000…+27600000999 is valid ZA *mobile* in phonenumbers 9.0.43
(ZA mobile ranges include 6[0-9]x xx xxxx), so the demo works in strict mode. Validity
follows the library's metadata, which changes between releases: keep it up to date, and
clear the cache (:func:`clear_cache`) if it is upgraded in a running process. The region is
the number's own, not its country code's main region: +44 7911 is Guernsey ("GG"), not
"GB", which matters for ``allowed_regions``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Final

import attrs
import phonenumbers
from phonenumbers import PhoneNumberType

from smppcore.gateway.rejection import (
    ESME_RINVDSTADR,
    ESME_RINVDSTNPI,
    ESME_RINVDSTTON,
    ESME_RINVSRCADR,
    ESME_RINVSRCNPI,
    ESME_RINVSRCTON,
    Rejection,
)

__all__ = [
    "DESTINATION",
    "REPLY_CAPABLE_TYPES",
    "SOURCE",
    "AddressRules",
    "Normalised",
    "Role",
    "cache_info",
    "check_address",
    "check_destination",
    "check_source",
    "clear_cache",
]

TON_UNKNOWN: Final = 0
TON_INTERNATIONAL: Final = 1
TON_NATIONAL: Final = 2
TON_ALPHANUMERIC: Final = 5
NPI_UNKNOWN: Final = 0
NPI_ISDN: Final = 1

#: Types a handset can reply from (source) or receive SMS on (destination).
REPLY_CAPABLE_TYPES: Final = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
)

_MAX_E164_DIGITS: Final = 15
_CACHE_SIZE: Final = 65536


@attrs.frozen(slots=True, cache_hash=True)
class Role:
    """Which address is checked: fixes the statuses a rejection carries."""

    name: str
    bad_addr: int
    bad_ton: int
    bad_npi: int
    reason_prefix: str  # keeps source and destination rejections apart in the metrics


SOURCE: Final = Role("source", ESME_RINVSRCADR, ESME_RINVSRCTON, ESME_RINVSRCNPI, "")
DESTINATION: Final = Role("destination", ESME_RINVDSTADR, ESME_RINVDSTTON, ESME_RINVDSTNPI, "dest_")


def _frozen_types(value: Iterable[int]) -> frozenset[int]:
    return frozenset(int(v) for v in value)


def _frozen_regions(value: Iterable[str] | None) -> frozenset[str] | None:
    return None if value is None else frozenset(r.upper() for r in value)


@attrs.frozen(slots=True, cache_hash=True)
class AddressRules:
    """How strictly one kind of address (source or destination) is checked.

    ``default_region`` (ISO 3166 alpha-2, e.g. ``"ZA"``) turns national and unknown-TON
    numbers into international ones; ``allowed_types`` are ``phonenumbers.PhoneNumberType``
    values; ``allowed_regions`` (None = any) limits countries; ``accept_possible`` accepts
    numbers of the right length that phonenumbers does not know as allocated.
    Hashable, so it is part of the cache key.
    """

    default_region: str | None = None
    allowed_types: frozenset[int] = attrs.field(
        default=REPLY_CAPABLE_TYPES, converter=_frozen_types
    )
    allowed_regions: frozenset[str] | None = attrs.field(default=None, converter=_frozen_regions)
    accept_possible: bool = False


@attrs.frozen(slots=True)
class Normalised:
    """An accepted address: E.164 digits without ``+`` and its ISO region (or "001")."""

    e164: str
    region: str


def _reject(role: Role, which: str, reason: str) -> Rejection:
    status = {"addr": role.bad_addr, "ton": role.bad_ton, "npi": role.bad_npi}[which]
    return Rejection(status, role.reason_prefix + reason)


def _has_letter(addr: str) -> bool:
    return any(ch.isalpha() for ch in addr)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def check_address(
    ton: int, npi: int, addr: str, rules: AddressRules, role: Role
) -> Normalised | Rejection:
    """Classify one SMPP address; cached (results are immutable values)."""
    if not addr:
        return _reject(role, "addr", "invalid_number")
    if ton == TON_ALPHANUMERIC or _has_letter(addr):
        return _reject(role, "addr", "alphanumeric")
    if ton not in (TON_UNKNOWN, TON_INTERNATIONAL, TON_NATIONAL):
        return _reject(role, "ton", "bad_ton")
    if ton == TON_NATIONAL and rules.default_region is None:
        return _reject(role, "ton", "bad_ton")
    if not (npi == NPI_ISDN or (npi == NPI_UNKNOWN and ton == TON_UNKNOWN)):
        return _reject(role, "npi", "bad_npi")

    plus = addr.startswith("+")
    digits = addr[1:] if plus else addr
    if (plus and ton == TON_NATIONAL) or not (digits.isascii() and digits.isdigit()):
        return _reject(role, "addr", "bad_format")
    if len(digits) > _MAX_E164_DIGITS:
        return _reject(role, "addr", "invalid_number")

    international = ton == TON_INTERNATIONAL or plus or rules.default_region is None
    try:
        if international:
            number = phonenumbers.parse("+" + digits, None)
        else:
            number = phonenumbers.parse(digits, rules.default_region)
    except phonenumbers.NumberParseException:
        return _reject(role, "addr", "invalid_number")

    if phonenumbers.is_valid_number(number):
        if phonenumbers.number_type(number) not in rules.allowed_types:
            return _reject(role, "addr", "not_reply_capable")
    elif not (rules.accept_possible and phonenumbers.is_possible_number(number)):
        return _reject(role, "addr", "invalid_number")

    region = phonenumbers.region_code_for_number(
        number
    ) or phonenumbers.region_code_for_country_code(number.country_code or 0)
    if rules.allowed_regions is not None and region not in rules.allowed_regions:
        return _reject(role, "addr", "country_not_allowed")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Normalised(e164[1:], region)


def check_source(ton: int, npi: int, addr: str, rules: AddressRules) -> Normalised | Rejection:
    """Check a submit's ``source_addr``: a reply-capable number (ownership is separate)."""
    return check_address(ton, npi, addr, rules, SOURCE)


def check_destination(ton: int, npi: int, addr: str, rules: AddressRules) -> Normalised | Rejection:
    """Check a submit's ``destination_addr``: a valid number in an allowed country."""
    return check_address(ton, npi, addr, rules, DESTINATION)


def clear_cache() -> None:
    """Forget cached classifications (tests; after a metadata upgrade)."""
    check_address.cache_clear()


def cache_info() -> functools._CacheInfo:
    """Hits/misses of the classification cache, for statistics."""
    return check_address.cache_info()
