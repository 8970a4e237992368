"""The static policy chain: order of rules and the content checks."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from smppcore.gateway.numbers import AddressRules, Normalised
from smppcore.gateway.ownership import NumberSet
from smppcore.gateway.policy import Accepted, AccountRules, SubmitCheck, check_static
from smppcore.gateway.rejection import SUPPRESSED, Rejection

ZA = AddressRules(default_region="ZA", allowed_regions={"ZA"})
RULES = AccountRules(
    owned=NumberSet.compile(["27600000000-27600000999"]), source=ZA, destination=ZA
)
GOOD = SubmitCheck(
    account="demo",
    rules=RULES,
    source_ton=1,
    source_npi=1,
    source_addr="27600000001",
    dest_ton=1,
    dest_npi=1,
    dest_addr="27821234567",
    sm_length=5,
    short_message_len=5,
)


def with_(**changes: Any) -> SubmitCheck:
    return attrs.evolve(GOOD, **changes)


def test_good_submit_is_accepted_with_normalised_addresses() -> None:
    assert check_static(GOOD) == Accepted(
        Normalised("27600000001", "ZA"), Normalised("27821234567", "ZA")
    )


def test_first_rejection_wins() -> None:
    # Bad source, bad destination and bad priority: the source is reported.
    bad = with_(source_ton=5, source_addr="ABCSHOES", dest_ton=9, priority_flag=7)
    assert check_static(bad) == Rejection(0x0A, "alphanumeric")
    assert check_static(with_(dest_ton=9, priority_flag=7)) == Rejection(0x50, "dest_bad_ton")
    expected = Rejection(0x0B, "dest_country_not_allowed")
    assert check_static(with_(dest_addr="14155552671")) == expected


CONTENT_TABLE: list[tuple[str, dict[str, Any], Rejection | None]] = [
    ("priority 3 ok", {"priority_flag": 3}, None),
    ("priority 4", {"priority_flag": 4}, Rejection(0x06, "bad_priority")),
    ("receipt requested", {"registered_delivery": 0x01}, None),
    ("v5 success-only receipt", {"registered_delivery": 0x03}, None),
    ("intermediate", {"registered_delivery": 0x10}, None),
    ("reserved dlv bit", {"registered_delivery": 0x20}, Rejection(0x07, "bad_registered_delivery")),
    (
        "reserved dlv bit 7",
        {"registered_delivery": 0x81},
        Rejection(0x07, "bad_registered_delivery"),
    ),
    ("datagram mode", {"esm_class": 0x01}, None),
    ("store and forward + udhi + reply path", {"esm_class": 0xC3}, None),
    ("transaction mode", {"esm_class": 0x02}, Rejection(0x43, "unsupported_esm_class")),
    ("receipt type in submit", {"esm_class": 0x04}, Rejection(0x43, "unsupported_esm_class")),
    ("sme ack not enabled", {"esm_class": 0x08}, Rejection(0x43, "unsupported_esm_class")),
    ("254 octets", {"sm_length": 254, "short_message_len": 254}, None),
    (
        "255 octets",
        {"sm_length": 255, "short_message_len": 255},
        Rejection(0x01, "message_too_long"),
    ),
    ("sm_length lies", {"sm_length": 4}, Rejection(0x01, "length_mismatch")),
    ("payload only", {"sm_length": 0, "short_message_len": 0, "message_payload_len": 1000}, None),
    ("payload and short_message", {"message_payload_len": 10}, Rejection(0x01, "payload_in_both")),
    (
        "payload too long",
        {"sm_length": 0, "short_message_len": 0, "message_payload_len": 70000},
        Rejection(0x01, "message_too_long"),
    ),
    ("ucs2 even", {"data_coding": 8, "sm_length": 6, "short_message_len": 6}, None),
    ("ucs2 odd", {"data_coding": 8}, Rejection(0x01, "odd_ucs2_length")),
    (
        "ucs2 odd payload",
        {"data_coding": 8, "sm_length": 0, "short_message_len": 0, "message_payload_len": 7},
        Rejection(0x01, "odd_ucs2_length"),
    ),
    (
        "ucs2 with 7-octet UDH",
        {
            "data_coding": 8,
            "esm_class": 0x40,
            "sm_length": 11,
            "short_message_len": 11,
            "udh_length": 7,
        },
        None,
    ),
    (
        "ucs2 with 6-octet UDH, odd body",
        {
            "data_coding": 8,
            "esm_class": 0x40,
            "sm_length": 11,
            "short_message_len": 11,
            "udh_length": 6,
        },
        Rejection(0x01, "odd_ucs2_length"),
    ),
    ("UDH longer than data", {"esm_class": 0x40, "udh_length": 6}, Rejection(0x01, "bad_udh")),
    ("latin1 odd fine", {"data_coding": 3}, None),
]


@pytest.mark.parametrize(
    ("changes", "expected"), [r[1:] for r in CONTENT_TABLE], ids=[r[0] for r in CONTENT_TABLE]
)
def test_content_table(changes: dict[str, Any], expected: Rejection | None) -> None:
    result = check_static(with_(**changes))
    if expected is None:
        assert isinstance(result, Accepted), result
    else:
        assert result == expected


def test_sme_acks_when_enabled() -> None:
    rules = attrs.evolve(RULES, allow_sme_acks=True)
    assert isinstance(check_static(with_(rules=rules, esm_class=0x08)), Accepted)
    assert check_static(with_(rules=rules, esm_class=0x04)) == Rejection(
        0x43, "unsupported_esm_class"
    )


def test_suppressed_default_is_the_vendor_opt_out_status() -> None:
    assert Rejection(0x00000401, "suppressed") == SUPPRESSED


def test_policy_config_default_is_the_rejection_constant() -> None:
    from smppcore.config.model import PolicyConfig

    assert PolicyConfig().suppressed_status == SUPPRESSED.status == 0x401


def test_status_constants_agree_with_protocol_enums() -> None:
    enums = pytest.importorskip("smppcore.protocol.enums")
    from smppcore.gateway import rejection

    for name in rejection.__all__:
        if name.startswith("ESME_"):
            assert getattr(rejection, name) == enums.CommandStatus[name].value, name
