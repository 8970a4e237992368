"""Delivery receipt text and message-id matching.

Owns the parsing of the de-facto receipt text carried in a deliver_sm/data_sm
(``id: sub: dlvrd: submit date: done date: stat: err: text:``, reference §8.2) tolerant of the
variants seen in the wild, its formatting (for our own receipts to clients, with
:func:`format_err` for a numeric ``err:``), and the normalisation of upstream message ids so
that an id stored from submit_sm_resp is found again from a receipt that writes it
differently (hex vs decimal, case, leading zeros).

The text is not normative: when the receipt also carries the ``receipted_message_id``,
``message_state`` or ``network_error_code`` TLVs, callers should prefer those.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import Literal

import attrs

from smppcore.protocol.enums import MessageState

__all__ = [
    "FINAL_STATES",
    "ErrFormat",
    "IdFormat",
    "Receipt",
    "format_err",
    "format_receipt",
    "id_variants",
    "normalise_message_id",
    "parse_receipt",
    "receipt_id_keys",
    "stat_text",
]

#: States a receipt may close a message with. ACCEPTED is left out on purpose: some
#: aggregators send ACCEPTD as a non-final "accepted by carrier" (reference §8.1/§8.2), and
#: taking an intermediate for final would lose the real final receipt.
FINAL_STATES = frozenset(
    {
        MessageState.DELIVERED,
        MessageState.EXPIRED,
        MessageState.DELETED,
        MessageState.UNDELIVERABLE,
        MessageState.REJECTED,
        MessageState.SKIPPED,
    }
)

_STAT_TEXT = {
    MessageState.SCHEDULED: "SCHEDLD",
    MessageState.ENROUTE: "ENROUTE",
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
    MessageState.SKIPPED: "SKIPPED",
}
_STAT_PARSE: dict[str, MessageState] = {text: state for state, text in _STAT_TEXT.items()}
_STAT_PARSE.update({state.name: state for state in MessageState})  # DELIVERED, REJECTED, ...
_STAT_PARSE.update({"SCHEDULD": MessageState.SCHEDULED, "UNDELIVRD": MessageState.UNDELIVERABLE})

# A key is a word (optionally "submit date" / "done date" with a space or underscore) followed
# by a colon, at the start of the text or after white space. Unknown keys end the previous
# value and are otherwise ignored.
_KEY = re.compile(
    r"(?:(?<=\s)|^)((?:submit|done)[ _]?date|[a-z][a-z_]*)[ \t]*:",
    re.IGNORECASE,
)
# The usual layout, for the fast path of parse_receipt: every value a run of characters
# that are neither white space nor NUL (what the general search yields for such text).
_CANONICAL = re.compile(
    r"id:([^\s\x00]+) sub:([0-9]+) dlvrd:([0-9]+) submit date:([0-9]+) done date:([0-9]+)"
    r" stat:([^\s\x00]+) err:([^\s\x00]*)(?: text:(.*))?",
    re.DOTALL,
)
_KEY_ALIASES = {
    "id": "id",
    "sub": "sub",
    "dlvrd": "dlvrd",
    "submitdate": "submit_date",
    "donedate": "done_date",
    "stat": "stat",
    "err": "err",
    "text": "text",
}
# Two-digit years are read as 20YY (strptime's %y would put 69-99 in the 1900s).
#: Receipt date lengths: YYMMDDhhmm, YYMMDDhhmmss (years 2000-2099), YYYYMMDDhhmmss.
_DATE_LENGTHS = frozenset({10, 12, 14})
_HEX = re.compile(r"[0-9a-f]+")
_DEC = re.compile(r"[0-9]+")
# Conversions between hex and decimal only for ids that plausibly are numbers (64-bit).
_MAX_NUMERIC_DIGITS = 20


@attrs.frozen
class Receipt:
    """A parsed receipt text. Missing or unreadable fields are None; ``stat`` is kept raw."""

    message_id: str | None
    sub: int | None
    dlvrd: int | None
    submit_date: datetime | None
    done_date: datetime | None
    stat: str | None
    state: MessageState
    err: str | None
    text: str | None

    @property
    def is_final(self) -> bool:
        """True for the states known to be final (see ``FINAL_STATES``)."""
        return self.state in FINAL_STATES


def _parse_int(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.isdigit():
        return None
    return int(value)


def _parse_date(value: str | None, tz: tzinfo | None) -> datetime | None:
    # Sliced by hand: strptime is the slowest part of reading a receipt (every receipt has
    # two dates); datetime() checks the ranges.
    if value is None or len(value) not in _DATE_LENGTHS or not value.isascii():
        return None
    if not value.isdigit():
        return None
    if len(value) == 14:
        year, rest = int(value[:4]), value[4:]
    else:
        year, rest = 2000 + int(value[:2]), value[2:]
    second = int(rest[8:10]) if len(rest) == 10 else 0
    try:
        return datetime(
            year, int(rest[0:2]), int(rest[2:4]), int(rest[4:6]), int(rest[6:8]), second,
            tzinfo=tz,
        )  # fmt: skip
    except ValueError:
        return None


def _parse_state(stat: str | None) -> MessageState:
    if not stat:
        return MessageState.UNKNOWN
    upper = stat.upper()
    state = _STAT_PARSE.get(upper)
    if state is not None:
        return state
    # ASCII and short first: isdigit() also takes '²' (int() rejects it) and int()
    # refuses more than 4300 digits; a message_state is one octet.
    if (
        len(upper) <= 3
        and upper.isascii()
        and upper.isdigit()
        and int(upper) in MessageState._value2member_map_
    ):
        return MessageState(int(upper))
    return MessageState.UNKNOWN


def parse_receipt(text: str, *, tz: tzinfo | None = None) -> Receipt:
    """Parse receipt text by locating each known key (any case, any order).

    ``text:`` takes the rest of the string. Dates of 10, 12 or 14 digits are read as
    YYMMDDhhmm, YYMMDDhhmmss (years 2000-2099) or YYYYMMDDhhmmss and get ``tz`` (naive
    when None: the SMSC's zone is configuration). ``err`` stays a string; unknown ``stat``
    codes give ``state=UNKNOWN`` with the raw code kept in ``stat``. Never raises.

    The Appendix B layout itself (lower-case keys in their order, one space apart) is read
    by one regular expression; anything else by the general key search, with the same
    result for the same text.
    """
    canonical = _CANONICAL.fullmatch(text)
    if canonical is not None:
        rest = canonical.group(8)
        return Receipt(
            message_id=canonical.group(1),
            sub=_parse_int(canonical.group(2)),
            dlvrd=_parse_int(canonical.group(3)),
            submit_date=_parse_date(canonical.group(4), tz),
            done_date=_parse_date(canonical.group(5), tz),
            stat=canonical.group(6),
            state=_parse_state(canonical.group(6)),
            err=canonical.group(7) or None,
            text=rest.lstrip(" ").rstrip("\x00") if rest is not None else None,
        )
    return parse_receipt_keys(text, tz=tz)


def parse_receipt_keys(text: str, *, tz: tzinfo | None = None) -> Receipt:
    """:func:`parse_receipt` by the general key search only (no fast path)."""
    values: dict[str, str] = {}
    matches = list(_KEY.finditer(text))
    for i, match in enumerate(matches):
        raw_key = match.group(1).lower().replace("_", "").replace(" ", "")
        key = _KEY_ALIASES.get(raw_key)
        if key == "text":
            values["text"] = text[match.end() :].lstrip(" ").rstrip("\x00")
            break
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        if key is not None and key not in values:
            values[key] = text[match.end() : end].strip().rstrip("\x00")
    stat = values.get("stat") or None
    return Receipt(
        message_id=values.get("id") or None,
        sub=_parse_int(values.get("sub")),
        dlvrd=_parse_int(values.get("dlvrd")),
        submit_date=_parse_date(values.get("submit_date"), tz),
        done_date=_parse_date(values.get("done_date"), tz),
        stat=stat,
        state=_parse_state(stat),
        err=values.get("err") or None,
        text=values.get("text"),
    )


def stat_text(state: MessageState) -> str:
    """The 7-letter receipt ``stat`` code for ``state`` (DELIVRD, UNDELIV, ...)."""
    return _STAT_TEXT[state]


def format_receipt(
    message_id: str,
    *,
    state: MessageState,
    submit_date: datetime,
    done_date: datetime,
    sub: int = 1,
    dlvrd: int | None = None,
    err: str = "000",
    text: str = "",
    seconds: bool = False,
) -> str:
    """Format the de-facto receipt text (Appendix B layout).

    ``dlvrd`` defaults to 1 for DELIVERED and 0 otherwise; ``text`` is cut to 20 characters;
    dates are YYMMDDhhmm, or YYMMDDhhmmss with ``seconds``.
    """
    if dlvrd is None:
        dlvrd = 1 if state is MessageState.DELIVERED else 0
    return (
        f"id:{message_id} sub:{sub:03d} dlvrd:{dlvrd:03d}"
        f" submit date:{_format_date(submit_date, seconds)}"
        f" done date:{_format_date(done_date, seconds)}"
        f" stat:{_STAT_TEXT[state]} err:{err} text:{text[:20]}"
    )


#: How a numeric error code is written in a receipt's ``err:`` (see :func:`format_err`).
ErrFormat = Literal["decimal", "hex"]
_MAX_ERR_CODE = 0xFFFFFFFF


def format_err(code: int, form: ErrFormat = "decimal") -> str:
    """The ``err:`` value for the numeric error ``code`` (0 to 0xFFFFFFFF, e.g. a
    ``command_status``): zero-padded to 3 digits where it fits, else every digit, never cut.

    ``"decimal"``: 0x08 → ``008``, 0x58 → ``088``, 0x401 → ``1025``, 0x45A → ``1114``.
    ``"hex"`` (upper case, no ``0x``): 0x08 → ``008``, 0x58 → ``058``, 0x401 → ``401``,
    0x45A → ``45A``, 0x1234 → ``1234``. Raises :class:`ValueError` outside the range.
    """
    if not 0 <= code <= _MAX_ERR_CODE:
        raise ValueError(f"error code {code} is not in 0..0xFFFFFFFF")
    return f"{code:03X}" if form == "hex" else f"{code:03d}"


def _format_date(when: datetime, seconds: bool) -> str:
    """YYMMDDhhmm[ss] (as strftime ``%y%m%d%H%M[%S]``, without its cost)."""
    text = f"{when.year % 100:02d}{when.month:02d}{when.day:02d}{when.hour:02d}{when.minute:02d}"
    return f"{text}{when.second:02d}" if seconds else text


def normalise_message_id(message_id: str) -> str:
    """Canonical form of an upstream id, used as the key when storing an id map.

    Strip white space (and NULs), lower-case, and drop leading zeros of an id made only of
    hex digits (which includes decimal ids), keeping a single ``0`` rather than nothing.
    """
    s = message_id.strip().strip("\x00").strip().lower()
    if s and _HEX.fullmatch(s):
        s = s.lstrip("0") or "0"
    return s


def id_variants(upstream_id: str) -> tuple[str, ...]:
    """Candidate keys to look an upstream id up by, best first, without duplicates.

    Exact, lower-case, canonical (``normalise_message_id``), then the decimal value of a
    hex-looking id and the hex value of a decimal id (each canonical, upper-case and, for
    decimal, zero-padded to 10 digits as in Appendix B). An id stored with
    ``normalise_message_id`` from submit_sm_resp ``0A3F5C`` is found from ``0000671580``
    and the other way round. An id that is both valid hex and valid decimal yields both
    readings, so the caller should try the candidates in order and stop at the first hit.
    """
    exact = upstream_id.strip().strip("\x00").strip()
    canonical = normalise_message_id(exact)
    out: list[str] = [exact, exact.lower(), canonical]
    if canonical and len(canonical) <= _MAX_NUMERIC_DIGITS and _HEX.fullmatch(canonical):
        if _DEC.fullmatch(canonical):
            as_hex = format(int(canonical), "x")
            out += [as_hex, as_hex.upper()]
        as_dec = str(int(canonical, 16))
        out += [as_dec, as_dec.zfill(10)]
    if _HEX.fullmatch(canonical):
        out += [canonical.upper(), canonical.zfill(10)]
    seen: set[str] = set()
    result: list[str] = []
    for candidate in out:
        if candidate and candidate not in seen:
            seen.add(candidate)
            result.append(candidate)
    return tuple(result)


#: How an operator writes its message ids, for :func:`receipt_id_keys`.
IdFormat = Literal[
    "auto", "decimal", "hex", "uuid", "hex_response_decimal_receipt", "decimal_response_hex_receipt"
]


def receipt_id_keys(upstream_id: str, id_format: IdFormat = "auto") -> tuple[str, ...]:
    """The keys to look a receipt's upstream id up by, best first, for an operator whose ids
    are written as ``id_format`` says. Id maps are stored under :func:`normalise_message_id`
    of the submit_sm_resp's id.

    * ``"auto"``: every :func:`id_variants` candidate (for an operator whose forms are not
      known; an id that reads as both hex and decimal may match either reading).
    * ``"decimal"``, ``"hex"``, ``"uuid"``: the receipt writes the id in the same form as
      the response (only blanks, case and leading zeros may differ): the canonical id alone.
    * ``"hex_response_decimal_receipt"``: the response gives hex (``0A3F5C``), the receipt
      the same number in decimal (``0000671580``): that number in hex (``a3f5c``); no key
      when the receipt's id is not decimal digits.
    * ``"decimal_response_hex_receipt"``: the other way round: ``75BCD15`` → ``123456789``;
      no key when it is not hex digits.
    """
    canonical = normalise_message_id(upstream_id)
    if id_format == "auto":
        return id_variants(upstream_id)
    if id_format == "hex_response_decimal_receipt":
        if len(canonical) <= _MAX_NUMERIC_DIGITS and _DEC.fullmatch(canonical):
            return (format(int(canonical), "x"),)
        return ()
    if id_format == "decimal_response_hex_receipt":
        if len(canonical) <= _MAX_NUMERIC_DIGITS and _HEX.fullmatch(canonical):
            return (str(int(canonical, 16)),)
        return ()
    return (canonical,) if canonical else ()
