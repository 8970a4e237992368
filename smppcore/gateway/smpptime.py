"""SMPP time fields (§6.7): ``schedule_delivery_time``, ``validity_period``, ``final_date``.

Owns: :func:`parse_smpp_time` (absolute ``YYMMDDhhmmsstnnp`` and relative
``YYMMDDhhmmss000R`` → epoch seconds) and :func:`format_absolute` (epoch → absolute UTC form,
for ``final_date``). Pure.

Decisions: the empty string means "not given" (None). Two-digit years are 20YY. A relative
offset adds calendar years and months first (the day clamped to the month's length), then
days, hours, minutes and seconds, to ``now`` in UTC. Anything else — wrong length, a non-digit,
a field out of range, ``t``/``nn`` not zero in a relative time, an offset beyond 48 quarter
hours — raises :class:`ValueError`; the caller maps it to ``ESME_RINVSCHED`` or
``ESME_RINVEXPIRY``.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Final

__all__ = ["format_absolute", "parse_smpp_time"]

_LENGTH: Final = 16
_UTC: Final = dt.UTC


def _fields(text: str) -> tuple[int, int, int, int, int, int, int, int]:
    body = text[:15]
    if not (body.isascii() and body.isdigit()):
        raise ValueError("time fields must be digits")
    return (
        int(text[0:2]),
        int(text[2:4]),
        int(text[4:6]),
        int(text[6:8]),
        int(text[8:10]),
        int(text[10:12]),
        int(text[12]),
        int(text[13:15]),
    )


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    if year > dt.MAXYEAR:
        raise ValueError("relative time too far in the future")
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def parse_smpp_time(text: str, now: float) -> float | None:
    """Epoch seconds for an SMPP time field, None when empty; ValueError when malformed."""
    if not text:
        return None
    if len(text) != _LENGTH:
        raise ValueError("an SMPP time has 16 characters")
    yy, mo, dd, hh, mi, ss, tenths, quarters = _fields(text)
    sign = text[15]
    if sign == "R":
        if tenths or quarters:
            raise ValueError("relative time: t and nn must be 0")
        base = dt.datetime.fromtimestamp(now, _UTC)
        moment = _add_months(base, yy * 12 + mo)
        delta = dt.timedelta(days=dd, hours=hh, minutes=mi, seconds=ss)
        return (moment + delta).timestamp()
    if sign not in "+-":
        raise ValueError("the last character must be '+', '-' or 'R'")
    if quarters > 48:
        raise ValueError("UTC offset beyond 48 quarter hours")
    try:
        local = dt.datetime(2000 + yy, mo, dd, hh, mi, ss, tenths * 100_000, tzinfo=_UTC)
    except ValueError:
        raise ValueError("date or time field out of range") from None
    offset = dt.timedelta(minutes=15 * quarters)
    utc = local - offset if sign == "+" else local + offset
    return utc.timestamp()


def format_absolute(epoch: float) -> str:
    """``YYMMDDhhmmsst00+`` in UTC (e.g. for ``final_date``)."""
    moment = dt.datetime.fromtimestamp(epoch, _UTC)
    return moment.strftime("%y%m%d%H%M%S") + f"{moment.microsecond // 100_000}00+"
