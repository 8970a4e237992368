"""``build_submits`` sends a payload that fits one part as it is, without the splitter: the
result must equal what the splitter makes of it, for every coding, mode and length."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.smpp_operator.segments import build_submits, split_submits, validity_period
from smppcore.protocol.segment import SplitMode
from smppcore.protocol.tlv import EMPTY_TLVS
from smppcore.store.base import MtMessage

_LIMIT = {0: 160, 3: 140, 8: 140, 4: 140, 0xF6: 140}


def _common(m: MtMessage) -> dict[str, Any]:
    return {
        "service_type": m.service_type, "source_addr_ton": m.source_addr_ton,
        "source_addr_npi": m.source_addr_npi, "source_addr": m.source_addr,
        "dest_addr_ton": m.dest_addr_ton, "dest_addr_npi": m.dest_addr_npi,
        "destination_addr": m.destination_addr, "protocol_id": m.protocol_id,
        "priority_flag": m.priority, "validity_period": validity_period(m.validity_until),
        "registered_delivery": m.registered_delivery, "data_coding": m.data_coding,
    }  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    coding=st.sampled_from(sorted(_LIMIT)),
    mode=st.sampled_from(list(SplitMode)),
    extra=st.integers(min_value=-3, max_value=3),
    fill=st.integers(min_value=0, max_value=127),
)
def test_one_part_shortcut_equals_the_splitter(
    coding: int, mode: SplitMode, extra: int, fill: int
) -> None:
    size = max(0, _LIMIT[coding] + extra)
    m = MtMessage(
        id="m1", account="a", connector="c", source_addr="1", destination_addr="2",
        payload=bytes([fill]) * size, data_coding=coding,
    )  # fmt: skip
    assert build_submits(m, mode) == split_submits(m, mode, EMPTY_TLVS, _common(m))
    one_part = size <= _LIMIT[coding] or mode is SplitMode.PAYLOAD
    assert (len(build_submits(m, mode)) == 1) == one_part
