"""The SQLite row helpers: the fast canonical-address rule equals the reference one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smppcore.store.hashing import canonical_msisdn
from smppcore.store.sqlite_rows import canon_address


def _reference(value: str) -> str:
    text = value.strip()
    if text and any(ch.isdigit() for ch in text) and all(ch in "0123456789+ -()" for ch in text):
        return canonical_msisdn(text)
    return text


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789+ -()aZ\u0663", max_size=16))
def test_canon_address_matches_the_reference_rule(value: str) -> None:
    assert canon_address(value) == _reference(value)


def test_canon_address_examples() -> None:
    assert canon_address("+27 60-000 0001") == "27600000001"
    assert canon_address("0027600000001") == "27600000001"
    assert canon_address("0600000001") == "0600000001"
    assert canon_address(" ACME ") == "ACME"
    assert canon_address("+") == "+"
    assert canon_address("") == ""
