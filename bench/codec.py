"""Codec micro-benchmark: smppcore vs smpplib 2.2.4, encode+decode per PDU, same run.

Each case builds the PDU object, encodes it and decodes the bytes back (the work a
gateway does per message on each side). Loops are bounded: every measurement runs a
fixed number of iterations (calibrated to ~0.1 s) and the best of ``--repeat`` runs is kept.

    python bench/codec.py            # table
    python bench/codec.py --json     # exactly one JSON object on stdout
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import timeit
from collections.abc import Callable
from typing import Any

import smpplib.smpp

from smppcore.protocol import BindTransceiver, DeliverSm, SubmitSm, Tlvs, decode, encode


class _Client:
    """The two attributes smpplib's PDU objects read from their client."""

    sequence = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


_TEXT = b"Your verification code is 123456. It expires in 10 minutes."
_RECEIPT = (
    b"id:0123456789 sub:001 dlvrd:001 submit date:2506301430 done date:2506301431 "
    b"stat:DELIVRD err:000 text:Your verification"
)

SUBMIT = dict(
    source_addr_ton=1, source_addr_npi=1, source_addr="447700900001",
    dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900123",
    registered_delivery=1, data_coding=0, short_message=_TEXT,
)  # fmt: skip
DELIVER = dict(
    source_addr_ton=1, source_addr_npi=1, source_addr="447700900123",
    dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900001",
    esm_class=4, short_message=_RECEIPT,
)  # fmt: skip
BIND = dict(system_id="esme1", password="secret12", system_type="", addr_ton=0, addr_npi=0)


def _ours() -> dict[str, Callable[[], object]]:
    receipt_tlvs = Tlvs.of(receipted_message_id="0123456789", message_state=2)
    return {
        "submit_sm": lambda: decode(encode(SubmitSm(sequence_number=2, **SUBMIT))),  # type: ignore[arg-type]
        "deliver_sm_receipt": lambda: decode(
            encode(DeliverSm(sequence_number=3, tlvs=receipt_tlvs, **DELIVER))  # type: ignore[arg-type]
        ),
        "bind_transceiver": lambda: decode(encode(BindTransceiver(sequence_number=1, **BIND))),  # type: ignore[arg-type]
    }


def _smpplib() -> dict[str, Callable[[], object]]:
    client = _Client()
    make, parse = smpplib.smpp.make_pdu, smpplib.smpp.parse_pdu

    def submit() -> object:
        pdu = make("submit_sm", client=client, sequence=2, **SUBMIT)
        return parse(pdu.generate(), client=client)

    def deliver() -> object:
        pdu = make(
            "deliver_sm", client=client, sequence=3,
            receipted_message_id="0123456789", message_state=2, **DELIVER,
        )  # fmt: skip
        return parse(pdu.generate(), client=client)

    def bind() -> object:
        pdu = make("bind_transceiver", client=client, sequence=1, interface_version=0x34, **BIND)
        return parse(pdu.generate(), client=client)

    return {"submit_sm": submit, "deliver_sm_receipt": deliver, "bind_transceiver": bind}


def _time(fn: Callable[[], object], repeat: int, budget: float) -> float:
    """Best-of-*repeat* seconds per call, each run a fixed iteration count (~budget s)."""
    timer = timeit.Timer(fn)
    once = min(timer.repeat(repeat=3, number=20)) / 20
    number = max(10, min(200_000, int(budget / max(once, 1e-9))))
    return min(timer.repeat(repeat=repeat, number=number)) / number


def run(repeat: int, budget: float) -> dict[str, Any]:
    ours, theirs = _ours(), _smpplib()
    results: dict[str, Any] = {}
    for name in ours:
        a = _time(ours[name], repeat, budget) * 1e6
        b = _time(theirs[name], repeat, budget) * 1e6
        results[name] = {
            "smppcore_us": round(a, 3),
            "smpplib_us": round(b, 3),
            "ratio": round(b / a, 1),
        }
    return {
        "benchmark": "codec encode+decode (object build + encode + decode)",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "repeat": repeat,
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--budget", type=float, default=0.1, help="seconds per timing run")
    args = parser.parse_args(argv)
    report = run(args.repeat, args.budget)
    if args.json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
        return 0
    print(f"{'PDU':<22}{'smppcore µs':>14}{'smpplib µs':>14}{'ratio':>9}")
    for name, r in report["results"].items():
        print(f"{name:<22}{r['smppcore_us']:>14.2f}{r['smpplib_us']:>14.2f}{r['ratio']:>8.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
