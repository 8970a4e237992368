"""Small value types parsed from config strings, and the per-key checks the schema uses.

Owns: :class:`NumberPattern` (exact number, range, prefix), :class:`HostPort`, :class:`Cidr`,
:class:`RouteTarget`, :func:`tzinfo_from_config` (a time zone name or offset), and check
functions. A value type has a ``from_config(value)``
classmethod that raises ``ValueError`` with a user-facing message; a check takes a converted
value and returns a problem description or ``None``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import attrs
import phonenumbers

from smppcore.passwords import parse_hash

__all__ = [
    "Check",
    "Cidr",
    "HostPort",
    "NumberPattern",
    "RouteTarget",
    "check",
    "tzinfo_from_config",
]

Check = Callable[[Any], "str | None"]

_DIGITS = re.compile(r"[0-9]{1,15}")
_OFFSET = re.compile(r"([+-])([0-9]{2}):?([0-9]{2})")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")

#: phonenumbers number types by the lower-case names used in the config.
NUMBER_TYPES: Mapping[str, int] = {
    name.lower(): value
    for name, value in vars(phonenumbers.PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}

#: Receipt ``stat:`` values the simulator may be told to produce.
RECEIPT_STATS = frozenset(
    {"DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD", "ENROUTE"}
)


@attrs.frozen
class NumberPattern:
    """A source-number rule: ``27600000001`` (exact), ``27600000000-27600000999`` (inclusive
    range of equal-length numbers) or ``2760*`` (prefix). Numbers are international digits."""

    kind: Literal["exact", "range", "prefix"]
    low: str
    high: str = ""

    @classmethod
    def from_config(cls, value: object) -> NumberPattern:
        if not isinstance(value, str):
            raise ValueError("must be a string such as '27600000001', '2760*' or 'a-b'")
        text = value.strip().replace(" ", "")
        if text.endswith("*"):
            prefix = text[:-1].lstrip("+")
            if not _DIGITS.fullmatch(prefix):
                raise ValueError(f"prefix {value!r} must be 1-15 digits followed by '*'")
            return cls("prefix", prefix)
        if "-" in text:
            low, _, high = text.partition("-")
            low, high = low.lstrip("+"), high.lstrip("+")
            if not (_DIGITS.fullmatch(low) and _DIGITS.fullmatch(high)):
                raise ValueError(f"range {value!r} must be two numbers of 1-15 digits")
            if len(low) != len(high):
                raise ValueError(f"range {value!r}: both ends must have the same number of digits")
            if int(low) > int(high):
                raise ValueError(f"range {value!r}: the start is greater than the end")
            return cls("range", low, high)
        number = text.lstrip("+")
        if not _DIGITS.fullmatch(number):
            raise ValueError(f"number {value!r} must be 1-15 digits (international format)")
        return cls("exact", number)

    def matches(self, number: str) -> bool:
        """True if ``number`` (international digits, optional '+') is covered by this rule."""
        digits = number[1:] if number.startswith("+") else number
        if self.kind == "exact":
            return digits == self.low
        if self.kind == "prefix":
            return digits.startswith(self.low)
        return len(digits) == len(self.low) and digits.isdigit() and self.low <= digits <= self.high

    def __str__(self) -> str:
        if self.kind == "prefix":
            return f"{self.low}*"
        if self.kind == "range":
            return f"{self.low}-{self.high}"
        return self.low


@attrs.frozen
class HostPort:
    """``host:port`` (``[v6addr]:port`` for IPv6)."""

    host: str
    port: int

    @classmethod
    def from_config(cls, value: object) -> HostPort:
        if not isinstance(value, str):
            raise ValueError("must be a string 'host:port'")
        host, sep, port_text = value.rpartition(":")
        if not sep or not host or not port_text.isdigit():
            raise ValueError(f"{value!r} is not of the form host:port")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        port = int(port_text)
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} in {value!r} is out of range 1-65535")
        return cls(host, port)

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@attrs.frozen
class Cidr:
    """An IP network a client may bind from."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network

    @classmethod
    def from_config(cls, value: object) -> Cidr:
        if not isinstance(value, str):
            raise ValueError("must be a CIDR string such as '10.0.0.0/8'")
        try:
            return cls(ipaddress.ip_network(value, strict=True))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a valid CIDR network ({exc})") from None

    def contains(self, address: str) -> bool:
        try:
            return ipaddress.ip_address(address) in self.network
        except ValueError:
            return False

    def __str__(self) -> str:
        return str(self.network)


def tzinfo_from_config(value: str) -> dt.tzinfo:
    """A time zone from the config: an IANA name (``"UTC"``, ``"Africa/Johannesburg"``, from
    the system's zone database through :mod:`zoneinfo`, daylight saving included) or a fixed
    offset from UTC (``"+02:00"``, ``"-0530"``, less than 24 hours). ``ValueError`` otherwise."""
    offset = _OFFSET.fullmatch(value)
    if offset is not None:
        sign, hours, minutes = offset.group(1), int(offset.group(2)), int(offset.group(3))
        if hours > 23 or minutes > 59:
            raise ValueError(f"offset {value!r} must be at most 23:59 hours")
        delta = dt.timedelta(hours=hours, minutes=minutes)
        return dt.timezone(-delta if sign == "-" else delta)
    try:
        return zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not a time zone name (e.g. 'UTC', 'Africa/Johannesburg') or an"
            " offset such as '+02:00'"
        ) from None


ANY_NETWORK = (Cidr(ipaddress.ip_network("0.0.0.0/0")), Cidr(ipaddress.ip_network("::/0")))


@attrs.frozen
class RouteTarget:
    """One connector of a route: a name, or ``{name = "...", weight = 2}``."""

    name: str
    weight: int = 1

    @classmethod
    def from_config(cls, value: object) -> RouteTarget:
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, dict):
            unknown = set(value) - {"name", "weight"}
            if unknown:
                raise ValueError(f"unknown key {sorted(unknown)[0]!r} (known: name, weight)")
            name, weight = value.get("name"), value.get("weight", 1)
            if not isinstance(name, str):
                raise ValueError('a connector entry needs name = "..."')
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
                raise ValueError("weight must be an integer >= 1")
            return cls(name, weight)
        raise ValueError("must be a connector name or a table {name, weight}")


# --- checks -------------------------------------------------------------------------------


def check(*checks: Check) -> dict[str, Any]:
    """Field metadata carrying checks, e.g. ``attrs.field(default=1, metadata=check(port))``."""
    return {"checks": checks}


def port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else f"port {value} is out of range 1-65535"


def positive(value: float) -> str | None:
    return None if value > 0 else f"must be greater than 0 (got {value})"


def non_negative(value: float) -> str | None:
    return None if value >= 0 else f"must not be negative (got {value})"


def name(value: str) -> str | None:
    if _NAME.fullmatch(value):
        return None
    return f"{value!r} must be 1-32 letters, digits, '_', '.' or '-', starting with a letter/digit"


def system_id(value: str) -> str | None:
    if 1 <= len(value) <= 15 and value.isascii() and value.isprintable():
        return None
    return "must be 1-15 printable ASCII characters (SMPP system_id is 16 octets with the NUL)"


def system_type(value: str) -> str | None:
    if len(value) <= 12 and value.isascii() and value.isprintable():
        return None
    return "must be at most 12 printable ASCII characters"


def region(value: str | None) -> str | None:
    if value is None or value in phonenumbers.SUPPORTED_REGIONS:
        return None
    return f"{value!r} is not a country code known to phonenumbers (ISO 3166 alpha-2, e.g. 'ZA')"


def regions(values: Iterable[str]) -> str | None:
    for value in values:
        problem = region(value)
        if problem:
            return problem
    return None


def number_types(values: Iterable[str] | None) -> str | None:
    for value in values or ():
        if value not in NUMBER_TYPES:
            known = ", ".join(sorted(NUMBER_TYPES))
            return f"{value!r} is not a phonenumbers number type (one of: {known})"
    return None


def status(value: int) -> str | None:
    if 0 <= value <= 0xFFFFFFFF:
        return None
    return f"{value} is not a 32-bit command_status"


def statuses(values: Iterable[int]) -> str | None:
    for value in values:
        problem = status(value)
        if problem:
            return problem
    return None


def error_status(value: int) -> str | None:
    if value == 0:
        return "must be an error status, not 0 (ESME_ROK)"
    return status(value)


def password_hash(value: str) -> str | None:
    try:
        parse_hash(value)
    except ValueError as exc:
        return str(exc)
    return None


def timezone(value: str) -> str | None:
    try:
        tzinfo_from_config(value)
    except ValueError as exc:
        return str(exc)
    return None


def redis_url(value: str) -> str | None:
    if not value.startswith(("redis://", "rediss://", "unix://")):
        return "must start with redis://, rediss:// or unix://"
    import redis

    try:  # builds the pool the store builds (connecting only when used)
        redis.BlockingConnectionPool.from_url(value)
    except ValueError as exc:
        return f"not a Redis URL the client can use: {exc}"
    return None


def unique(values: Iterable[object]) -> str | None:
    seen: set[object] = set()
    for value in values:
        if value in seen:
            return f"{value!r} is listed twice"
        seen.add(value)
    return None


def non_empty(values: Iterable[object]) -> str | None:
    return None if any(True for _ in values) else "must not be empty"


def outcomes(values: Mapping[str, float]) -> str | None:
    for stat, weight in values.items():
        if stat not in RECEIPT_STATS:
            return f"{stat!r} is not a receipt stat (one of: {', '.join(sorted(RECEIPT_STATS))})"
        if weight < 0:
            return f"weight of {stat} must not be negative"
    if not values or sum(values.values()) <= 0:
        return "at least one outcome needs a weight greater than 0"
    return None
