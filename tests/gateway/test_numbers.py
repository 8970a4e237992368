"""Source/destination address classification (numbers.py) and the source table test."""

from __future__ import annotations

import timeit

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smppcore.gateway.numbers import (
    AddressRules,
    Normalised,
    cache_info,
    check_destination,
    check_source,
    clear_cache,
)
from smppcore.gateway.ownership import NumberSet
from smppcore.gateway.policy import AccountRules, SubmitCheck, check_static
from smppcore.gateway.rejection import Rejection

ZA = AddressRules(default_region="ZA")
DEMO = AccountRules(owned=NumberSet.compile(["27600000000-27600000999"]), source=ZA, destination=ZA)
OTHER = AccountRules(
    owned=NumberSet.compile(["27601000000-27601000999"]), source=ZA, destination=ZA
)


def submit(rules: AccountRules, ton: int, npi: int, addr: str) -> SubmitCheck:
    return SubmitCheck(
        account="demo",
        rules=rules,
        source_ton=ton,
        source_npi=npi,
        source_addr=addr,
        dest_ton=1,
        dest_npi=1,
        dest_addr="27821234567",
    )


# (case, rules, ton, npi, addr, expected status (0 = accepted), reason or normalised e164)
SOURCE_TABLE = [
    ("alpha TON 5", DEMO, 5, 0, "ABCSHOES", 0x0A, "alphanumeric"),
    ("alpha TON 1", DEMO, 1, 1, "ABCSHOES", 0x0A, "alphanumeric"),
    ("plus prefix TON 1", DEMO, 1, 1, "+27600000001", 0, "27600000001"),
    ("international owned", DEMO, 1, 1, "27600000001", 0, "27600000001"),
    ("owned by another account", OTHER, 1, 1, "27600000001", 0x0A, "not_owned"),
    ("too short", DEMO, 1, 1, "2760", 0x0A, "invalid_number"),
    ("too long", DEMO, 1, 1, "2760000000123456", 0x0A, "invalid_number"),
    ("fixed line only", DEMO, 1, 1, "27211234567", 0x0A, "not_reply_capable"),
    ("national with default country", DEMO, 2, 1, "0600000001", 0, "27600000001"),
    ("national without trunk 0", DEMO, 2, 1, "600000001", 0, "27600000001"),
    ("unknown TON/NPI 0/0", DEMO, 0, 0, "0600000001", 0, "27600000001"),
    ("letters mixed with digits", DEMO, 1, 1, "2760000O001", 0x0A, "alphanumeric"),
    ("letter at the end", DEMO, 1, 1, "27600000001x", 0x0A, "alphanumeric"),
    ("network specific TON", DEMO, 3, 1, "27600000001", 0x48, "bad_ton"),
    ("subscriber TON", DEMO, 4, 1, "27600000001", 0x48, "bad_ton"),
    ("abbreviated TON", DEMO, 6, 1, "12345", 0x48, "bad_ton"),
    ("NPI national", DEMO, 1, 8, "27600000001", 0x49, "bad_npi"),
    ("NPI 0 with TON 1", DEMO, 1, 0, "27600000001", 0x49, "bad_npi"),
    ("plus with national TON", DEMO, 2, 1, "+27600000001", 0x0A, "bad_format"),
    ("spaces", DEMO, 1, 1, "27 600 000 001", 0x0A, "bad_format"),
    ("empty", DEMO, 1, 1, "", 0x0A, "invalid_number"),
]


@pytest.mark.parametrize(
    ("rules", "ton", "npi", "addr", "status", "expected"),
    [row[1:] for row in SOURCE_TABLE],
    ids=[row[0] for row in SOURCE_TABLE],
)
def test_source_table(
    rules: AccountRules, ton: int, npi: int, addr: str, status: int, expected: str
) -> None:
    result = check_static(submit(rules, ton, npi, addr))
    if status == 0:
        assert not isinstance(result, Rejection), result
        assert result.source == Normalised(expected, "ZA")
    else:
        assert result == Rejection(status, expected)


def test_national_ton_needs_default_country() -> None:
    assert check_source(2, 1, "0600000001", AddressRules()) == Rejection(0x48, "bad_ton")
    # TON 0 without a default region is read as international.
    assert check_source(0, 0, "27600000001", AddressRules()) == Normalised("27600000001", "ZA")


def test_demo_range_is_valid_za_mobile() -> None:
    for n in (0, 1, 500, 999):
        number = phonenumbers.parse(f"+27600000{n:03d}")
        assert phonenumbers.is_valid_number(number)
        assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE


def test_accept_possible_admits_unallocated_but_well_formed() -> None:
    # Ofcom's drama range 07700 900xxx is deliberately not allocated: not valid, but possible.
    strict = AddressRules()
    loose = AddressRules(accept_possible=True)
    assert check_source(1, 1, "447700900123", strict) == Rejection(0x0A, "invalid_number")
    assert check_source(1, 1, "447700900123", loose) == Normalised("447700900123", "GB")
    # Still too long for GB:
    assert check_source(1, 1, "4477009001234", loose) == Rejection(0x0A, "invalid_number")
    # Valid numbers keep the type check even when possible ones are accepted.
    za_loose = AddressRules(default_region="ZA", accept_possible=True)
    assert check_source(1, 1, "27211234567", za_loose) == Rejection(0x0A, "not_reply_capable")


def test_extra_types_can_be_configured() -> None:
    rules = AddressRules(
        allowed_types={
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE,
        }
    )
    assert check_source(1, 1, "27211234567", rules) == Normalised("27211234567", "ZA")


DEST_TABLE = [
    (5, 0, "ABCSHOES", Rejection(0x0B, "dest_alphanumeric")),
    (3, 1, "27821234567", Rejection(0x50, "dest_bad_ton")),
    (1, 9, "27821234567", Rejection(0x51, "dest_bad_npi")),
    (1, 1, "27", Rejection(0x0B, "dest_invalid_number")),
    (1, 1, "14155552671", Rejection(0x0B, "dest_country_not_allowed")),
    (1, 1, "27821234567", Normalised("27821234567", "ZA")),
    (1, 1, "447400123456", Normalised("447400123456", "GB")),
    # +44 7911 is Guernsey: the region comes from the number, not the country code.
    (1, 1, "447911123456", Rejection(0x0B, "dest_country_not_allowed")),
]


@pytest.mark.parametrize(("ton", "npi", "addr", "expected"), DEST_TABLE)
def test_destination_table(ton: int, npi: int, addr: str, expected: object) -> None:
    rules = AddressRules(default_region="ZA", allowed_regions={"ZA", "GB"})
    assert check_destination(ton, npi, addr, rules) == expected


_address_chars = st.sampled_from("0123456789+ -.#*")


@settings(max_examples=300, deadline=None)
@given(
    ton=st.integers(0, 255),
    npi=st.integers(0, 255),
    before=st.text(_address_chars, max_size=10),
    letter=st.characters(categories=("Lu", "Ll", "Lt", "Lm", "Lo")),
    after=st.text(_address_chars, max_size=10),
)
def test_any_address_with_a_letter_is_rejected(
    ton: int, npi: int, before: str, letter: str, after: str
) -> None:
    addr = before + letter + after
    for check, status, reason in (
        (check_source, 0x0A, "alphanumeric"),
        (check_destination, 0x0B, "dest_alphanumeric"),
    ):
        assert check(ton, npi, addr, ZA) == Rejection(status, reason)


@settings(max_examples=300, deadline=None)
@given(ton=st.integers(0, 255), npi=st.integers(0, 255), addr=st.text(max_size=25))
def test_accepted_addresses_are_e164_digits(ton: int, npi: int, addr: str) -> None:
    result = check_source(ton, npi, addr, AddressRules(default_region="ZA", accept_possible=True))
    if isinstance(result, Normalised):
        assert result.e164.isascii() and result.e164.isdigit() and len(result.e164) <= 15
        assert ton in (0, 1, 2) and npi in (0, 1)
        assert not any(ch.isalpha() for ch in addr)


def test_cache_is_used_and_cheap() -> None:
    clear_cache()
    check_source(1, 1, "27600000001", ZA)
    check_source(1, 1, "27600000001", ZA)
    info = cache_info()
    assert info.hits == 1 and info.misses == 1
    # Measured, not asserted (no timing asserts): printed with pytest -s.
    n = 20000
    hit = timeit.timeit(lambda: check_source(1, 1, "27600000001", ZA), number=n) / n
    clear_cache()
    addrs = [f"27600000{i:03d}" for i in range(1000)]
    miss = timeit.timeit(lambda: [check_source(1, 1, a, ZA) for a in addrs], number=1) / 1000
    print(f"check_source: cached {hit * 1e6:.2f} us, uncached {miss * 1e6:.1f} us")
