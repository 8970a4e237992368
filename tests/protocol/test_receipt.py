"""Receipt text parsing (every variant of reference §8.2), formatting and id matching."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smppcore.protocol.enums import MessageState
from smppcore.protocol.receipt import (
    ErrFormat,
    IdFormat,
    Receipt,
    format_err,
    format_receipt,
    id_variants,
    normalise_message_id,
    parse_receipt,
    parse_receipt_keys,
    receipt_id_keys,
    stat_text,
)

STANDARD = (
    "id:0000671580 sub:001 dlvrd:001 submit date:1906081652 done date:1906081653"
    " stat:DELIVRD err:000 text:Hello world"
)


def test_standard_receipt() -> None:
    assert parse_receipt(STANDARD) == Receipt(
        message_id="0000671580",
        sub=1,
        dlvrd=1,
        submit_date=datetime(2019, 6, 8, 16, 52),
        done_date=datetime(2019, 6, 8, 16, 53),
        stat="DELIVRD",
        state=MessageState.DELIVERED,
        err="000",
        text="Hello world",
    )
    assert parse_receipt(STANDARD).is_final


def test_hex_id_and_long_ids() -> None:
    assert parse_receipt("id:0A3F5C stat:DELIVRD").message_id == "0A3F5C"
    long_id = "12345678901234567890"
    assert parse_receipt(f"id:{long_id} sub:001").message_id == long_id
    uuid = "550E8400-E29B-41D4-A716-446655440000"
    assert parse_receipt(f"id:{uuid} stat:UNDELIV").message_id == uuid
    sixty_four = "x" * 64
    assert parse_receipt(f"id:{sixty_four} stat:UNDELIV").message_id == sixty_four


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("1906081652", datetime(2019, 6, 8, 16, 52)),
        ("190608165232", datetime(2019, 6, 8, 16, 52, 32)),
        ("20190608165232", datetime(2019, 6, 8, 16, 52, 32)),
        ("190608", None),
        ("1913081652", None),
        ("", None),
        ("2019-06-08", None),
    ],
)
def test_dates_by_length(date: str, expected: datetime | None) -> None:
    receipt = parse_receipt(f"id:1 submit date:{date} done date:{date} stat:DELIVRD")
    assert receipt.submit_date == expected
    assert receipt.done_date == expected


def test_configured_time_zone() -> None:
    tz = timezone(timedelta(hours=3))
    receipt = parse_receipt("id:1 done date:1906081652", tz=tz)
    assert receipt.done_date == datetime(2019, 6, 8, 16, 52, tzinfo=tz)


def test_key_case_is_ignored() -> None:
    receipt = parse_receipt(
        "ID:abc SUB:002 Dlvrd:001 Submit Date:1906081652 DONE DATE:1906081652"
        " STAT:undeliv Err:0B Text:Hi"
    )
    assert receipt.message_id == "abc"
    assert (receipt.sub, receipt.dlvrd) == (2, 1)
    assert receipt.submit_date == datetime(2019, 6, 8, 16, 52)
    assert receipt.state is MessageState.UNDELIVERABLE
    assert receipt.stat == "undeliv"
    assert (receipt.err, receipt.text) == ("0B", "Hi")


@pytest.mark.parametrize(
    ("tail", "text"),
    [("", None), (" text:", ""), (" text:none", "none"), (" Text:a b", "a b")],
)
def test_text_optional(tail: str, text: str | None) -> None:
    receipt = parse_receipt("id:7 stat:DELIVRD err:000" + tail)
    assert receipt.text == text
    assert receipt.message_id == "7"
    assert receipt.err == "000"


def test_text_takes_the_rest_even_with_key_like_words() -> None:
    receipt = parse_receipt("id:9 stat:EXPIRED text:meet at 10:30 id:5 stat:DELIVRD err:1")
    assert receipt.text == "meet at 10:30 id:5 stat:DELIVRD err:1"
    assert receipt.message_id == "9"
    assert receipt.state is MessageState.EXPIRED


def test_out_of_order_and_unknown_keys() -> None:
    receipt = parse_receipt(
        "stat:REJECTD foo:bar err:0x1F id:ab12 vendor_code:77 dlvrd:000 sub:001"
    )
    assert receipt.state is MessageState.REJECTED
    assert receipt.err == "0x1F"
    assert receipt.message_id == "ab12"
    assert (receipt.sub, receipt.dlvrd) == (1, 0)
    assert receipt.submit_date is None
    assert receipt.text is None


def test_missing_fields_and_garbage() -> None:
    receipt = parse_receipt("stat:DELIVRD")
    assert receipt.message_id is None
    assert receipt.sub is None
    assert receipt.err is None
    empty = parse_receipt("")
    assert empty.state is MessageState.UNKNOWN
    assert empty.stat is None


def test_err_kept_as_string() -> None:
    assert parse_receipt("id:1 err:000").err == "000"
    assert parse_receipt("id:1 err:1234").err == "1234"
    assert parse_receipt("id:1 err:A7").err == "A7"


def test_unpadded_sub_and_dlvrd() -> None:
    receipt = parse_receipt("id:1 sub:1 dlvrd:1 stat:DELIVRD")
    assert (receipt.sub, receipt.dlvrd) == (1, 1)
    assert parse_receipt("id:1 sub:x").sub is None


@pytest.mark.parametrize(
    ("stat", "state", "final"),
    [
        ("DELIVRD", MessageState.DELIVERED, True),
        ("EXPIRED", MessageState.EXPIRED, True),
        ("DELETED", MessageState.DELETED, True),
        ("UNDELIV", MessageState.UNDELIVERABLE, True),
        ("REJECTD", MessageState.REJECTED, True),
        ("SKIPPED", MessageState.SKIPPED, True),
        ("ACCEPTD", MessageState.ACCEPTED, False),
        ("ENROUTE", MessageState.ENROUTE, False),
        ("SCHEDLD", MessageState.SCHEDULED, False),
        ("UNKNOWN", MessageState.UNKNOWN, False),
        ("DELIVERED", MessageState.DELIVERED, True),
        ("SUBMITTED", MessageState.UNKNOWN, False),
        ("FOO", MessageState.UNKNOWN, False),
        ("2", MessageState.DELIVERED, True),
    ],
)
def test_stat_codes(stat: str, state: MessageState, final: bool) -> None:
    receipt = parse_receipt(f"id:1 stat:{stat} err:000")
    assert receipt.state is state
    assert receipt.stat == stat
    assert receipt.is_final is final


def test_trailing_nul_and_spaces() -> None:
    receipt = parse_receipt("id: 42  stat:DELIVRD err:000\x00")
    assert receipt.message_id == "42"
    assert receipt.err == "000"


def test_format_receipt() -> None:
    text = format_receipt(
        "0A3F5C",
        state=MessageState.DELIVERED,
        submit_date=datetime(2019, 6, 8, 16, 52, 32),
        done_date=datetime(2019, 6, 8, 16, 53),
        text="Hello world, this is longer than twenty",
    )
    assert text == (
        "id:0A3F5C sub:001 dlvrd:001 submit date:1906081652 done date:1906081653"
        " stat:DELIVRD err:000 text:Hello world, this is"
    )
    assert stat_text(MessageState.UNDELIVERABLE) == "UNDELIV"


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="0123456789abcdefABCDEF-", min_size=1, max_size=64),
    st.sampled_from(list(MessageState)),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    st.integers(0, 999),
    st.text(max_size=40),
    st.booleans(),
)
def test_format_parse_round_trip(
    message_id: str,
    state: MessageState,
    when: datetime,
    sub: int,
    text: str,
    seconds: bool,
) -> None:
    formatted = format_receipt(
        message_id,
        state=state,
        submit_date=when,
        done_date=when,
        sub=sub,
        err="0A1",
        text=text,
        seconds=seconds,
    )
    receipt = parse_receipt(formatted)
    assert receipt.message_id == message_id
    assert receipt.state is state
    assert receipt.sub == sub
    assert receipt.err == "0A1"
    assert receipt.text == text[:20].lstrip(" ").rstrip("\x00")  # NUL: C-string end
    expected = when.replace(microsecond=0) if seconds else when.replace(second=0, microsecond=0)
    assert receipt.done_date == expected


_TOKEN = st.text(st.characters(codec="utf-8"), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    parts=st.tuples(_TOKEN, _TOKEN, _TOKEN, _TOKEN, _TOKEN, _TOKEN, _TOKEN),
    text=st.one_of(st.none(), st.text(max_size=30)),
    digits=st.lists(
        st.sampled_from(["0", "1", "9", "26", "2601011200", "20260101120059"]),
        min_size=4,
        max_size=4,
    ),
)
def test_the_fast_path_reads_what_the_key_search_reads(
    parts: tuple[str, ...], text: str | None, digits: list[str]
) -> None:
    """Texts in (and near) the Appendix B layout: the one-regex path and the general key
    search agree on every one, whichever of them the text takes."""
    ident, stat, err, a, b, c, d = parts
    sub, dlvrd, submitted, done = (x + y for x, y in zip(digits, (a, b, c, d), strict=True))
    receipt = (
        f"id:{ident} sub:{sub} dlvrd:{dlvrd} submit date:{submitted} done date:{done}"
        f" stat:{stat} err:{err}" + ("" if text is None else f" text:{text}")
    )
    assert parse_receipt(receipt) == parse_receipt_keys(receipt)


@pytest.mark.parametrize("text", [STANDARD, STANDARD + "\x00", STANDARD.replace(" text:", "\x00")])
def test_the_fast_path_takes_the_standard_layout(text: str) -> None:
    assert parse_receipt(text) == parse_receipt_keys(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_parse_never_raises(text: str) -> None:
    assert isinstance(parse_receipt(text), Receipt)


@pytest.mark.parametrize("stat", ["\u00b2", "\u0663", "9" * 5000])
def test_odd_numeric_stat_never_raises(stat: str) -> None:
    """A stat that str.isdigit() accepts but is no plain number (Latin-1 superscript two,
    an Arabic-Indic digit, more digits than int() converts) is UNKNOWN, not an error."""
    receipt = parse_receipt(f"id:1 stat:{stat} err:000")
    assert receipt.state is MessageState.UNKNOWN
    assert receipt.stat == stat


# --- message ids -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("0A3F5C", "a3f5c"),
        (" 0000671580 ", "671580"),
        ("000", "0"),
        ("0", "0"),
        ("550E8400-E29B-41D4-A716-446655440000", "550e8400-e29b-41d4-a716-446655440000"),
        ("00Msg-01", "00msg-01"),
        ("abc\x00", "abc"),
    ],
)
def test_normalise_message_id(raw: str, canonical: str) -> None:
    assert normalise_message_id(raw) == canonical


@pytest.mark.parametrize(
    ("stored", "received"),
    [
        ("0A3F5C", "0000671580"),
        ("0000671580", "0A3F5C"),
        ("0a3f5c", "671580"),
        ("671580", "A3F5C"),
        ("550E8400-E29B-41D4-A716-446655440000", "550e8400-e29b-41d4-a716-446655440000"),
        ("550e8400-e29b-41d4-a716-446655440000", "550E8400-E29B-41D4-A716-446655440000"),
        ("12345678901234567890", "12345678901234567890"),
        ("0", "0000000000"),
    ],
)
def test_stored_id_found_from_receipt_id(stored: str, received: str) -> None:
    key = normalise_message_id(stored)
    assert key in id_variants(received)


def test_id_variants_order_and_content() -> None:
    variants = id_variants("0000671580")
    assert variants[0] == "0000671580"
    assert "671580" in variants
    assert "a3f5c" in variants
    assert len(variants) == len(set(variants))
    assert id_variants("0A3F5C")[:3] == ("0A3F5C", "0a3f5c", "a3f5c")
    assert "671580" in id_variants("0A3F5C")


def test_id_variants_unrelated_ids_do_not_match() -> None:
    assert normalise_message_id("0A3F5D") not in id_variants("0000671580")
    assert normalise_message_id("msg-1") not in id_variants("msg-2")


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**64 - 1), st.integers(0, 6), st.booleans())
def test_numeric_ids_match_across_hex_and_decimal(value: int, pad: int, upper: bool) -> None:
    as_hex = "0" * pad + (format(value, "X") if upper else format(value, "x"))
    as_dec = "0" * pad + str(value)
    assert normalise_message_id(as_hex) in id_variants(as_dec)
    assert normalise_message_id(as_dec) in id_variants(as_hex)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=70))
def test_any_id_finds_itself(raw: str) -> None:
    variants = id_variants(raw)
    key = normalise_message_id(raw)
    assert key == "" or key in variants
    if raw.isascii() and key:  # ids are ASCII in practice; case folding is ASCII-only there
        assert normalise_message_id(raw.upper()) in id_variants(raw.lower())


@pytest.mark.parametrize(
    ("code", "form", "expected"),
    [
        (0, "decimal", "000"),
        (0x08, "decimal", "008"),
        (0x58, "decimal", "088"),
        (999, "decimal", "999"),
        (0x401, "decimal", "1025"),
        (0x45A, "decimal", "1114"),
        (0xFFFFFFFF, "decimal", "4294967295"),
        (0, "hex", "000"),
        (0x08, "hex", "008"),
        (0x58, "hex", "058"),
        (0x401, "hex", "401"),
        (0x45A, "hex", "45A"),
        (0x1234, "hex", "1234"),
        (0xFFFFFFFF, "hex", "FFFFFFFF"),
    ],
)
def test_format_err(code: int, form: ErrFormat, expected: str) -> None:
    assert format_err(code, form) == expected


@pytest.mark.parametrize("code", [-1, 0x1_0000_0000])
def test_format_err_refuses_what_is_no_32_bit_code(code: int) -> None:
    with pytest.raises(ValueError, match="0xFFFFFFFF"):
        format_err(code)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 0xFFFFFFFF), st.sampled_from(["decimal", "hex"]))
def test_format_err_round_trip(code: int, form: ErrFormat) -> None:
    """Every code comes back whole from the err: of a formatted receipt, in its base."""
    err = format_err(code, form)
    base = 16 if form == "hex" else 10
    assert int(err, base) == code
    assert len(err) == max(3, len(format(code, "X" if form == "hex" else "d")))
    text = format_receipt(
        "1", state=MessageState.UNDELIVERABLE, submit_date=datetime(2026, 1, 1),
        done_date=datetime(2026, 1, 1), err=err,
    )  # fmt: skip
    assert parse_receipt(text).err == err


@pytest.mark.parametrize(
    ("upstream", "id_format", "expected"),
    [
        ("0A3F5C", "hex", ("a3f5c",)),
        ("0000671580", "decimal", ("671580",)),
        (" 550E8400-E29B-41D4-A716-446655440000\x00", "uuid",
         ("550e8400-e29b-41d4-a716-446655440000",)),
        ("0000671580", "hex_response_decimal_receipt", ("a3f5c",)),
        ("0A3F5C", "hex_response_decimal_receipt", ()),  # not decimal: no key
        ("75BCD15", "decimal_response_hex_receipt", ("123456789",)),
        ("75BCD15-x", "decimal_response_hex_receipt", ()),
        ("   ", "hex", ()),
    ],
)  # fmt: skip
def test_receipt_id_keys(upstream: str, id_format: IdFormat, expected: tuple[str, ...]) -> None:
    assert receipt_id_keys(upstream, id_format) == expected


def test_auto_receipt_id_keys_are_every_variant() -> None:
    for upstream in ("0000671580", "0A3F5C", "550E8400-E29B-41D4-A716-446655440000"):
        assert receipt_id_keys(upstream) == id_variants(upstream)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**64 - 1), st.integers(0, 12))
def test_converting_id_formats_find_the_stored_id(number: int, zeros: int) -> None:
    """The key of a receipt's id is the id map's key of the response's id (the connector
    stores ``normalise_message_id`` of it), whatever the padding on either side."""
    as_hex, as_dec = format(number, "X"), str(number)
    assert receipt_id_keys("0" * zeros + as_dec, "hex_response_decimal_receipt") == (
        normalise_message_id("0" * zeros + as_hex),
    )
    assert receipt_id_keys("0" * zeros + as_hex, "decimal_response_hex_receipt") == (
        normalise_message_id(as_dec.zfill(10)),
    )
    same: dict[IdFormat, str] = {"decimal": as_dec, "hex": as_hex.lower()}
    for id_format, written in same.items():
        assert receipt_id_keys("0" * zeros + written, id_format) == (normalise_message_id(written),)
