"""Codec micro-benchmark: smppcore vs smpplib 2.2.4, per PDU, same run, same machine.

Three measurements per PDU and library (issue 2's goal is the first one):

* ``codec``: encode + decode of an already-built PDU object (ours: ``decode(encode(pdu))``;
  smpplib: ``parse_pdu(pdu.generate())``) -- the wire work a gateway does per message;
* ``build``: constructing the PDU object alone;
* ``total``: build + encode + decode, the old single number, kept for comparison.

Each timing run has a fixed iteration count (calibrated to ``--budget`` seconds); runs of
all cases are interleaved so both libraries see the same background load, and the best
and the median of ``--repeat`` runs are reported (the best is the least disturbed by
other load on a shared machine, the median shows the spread).

    python bench/codec.py            # table
    python bench/codec.py --json     # exactly one JSON object on stdout
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import timeit
from collections.abc import Callable
from typing import Any, NamedTuple

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


class _Case(NamedTuple):
    build: Callable[[], Any]
    #: built PDU -> a no-argument function doing exactly encode+decode of it (no extra
    #: call layer, so neither library pays for benchmark plumbing in the "codec" number).
    codec_of: Callable[[Any], Callable[[], object]]
    #: build function -> a no-argument function doing build+encode+decode.
    total_of: Callable[[Callable[[], Any]], Callable[[], object]]


def _ours() -> dict[str, _Case]:
    receipt_tlvs = Tlvs.of(receipted_message_id="0123456789", message_state=2)

    def codec_of(pdu: Any) -> Callable[[], object]:
        return lambda: decode(encode(pdu))

    def total_of(build: Callable[[], Any]) -> Callable[[], object]:
        return lambda: decode(encode(build()))

    def case(build: Callable[[], Any]) -> _Case:
        return _Case(build, codec_of, total_of)

    return {
        "submit_sm": case(lambda: SubmitSm(sequence_number=2, **SUBMIT)),  # type: ignore[arg-type]
        "deliver_sm_receipt": case(
            lambda: DeliverSm(sequence_number=3, tlvs=receipt_tlvs, **DELIVER),  # type: ignore[arg-type]
        ),
        "bind_transceiver": case(lambda: BindTransceiver(sequence_number=1, **BIND)),  # type: ignore[arg-type]
    }


def _smpplib() -> dict[str, _Case]:
    client = _Client()
    make, parse = smpplib.smpp.make_pdu, smpplib.smpp.parse_pdu

    def codec_of(pdu: Any) -> Callable[[], object]:
        return lambda: parse(pdu.generate(), client=client)

    def total_of(build: Callable[[], Any]) -> Callable[[], object]:
        return lambda: parse(build().generate(), client=client)

    def case(build: Callable[[], Any]) -> _Case:
        return _Case(build, codec_of, total_of)

    return {
        "submit_sm": case(lambda: make("submit_sm", client=client, sequence=2, **SUBMIT)),
        "deliver_sm_receipt": case(
            lambda: make(
                "deliver_sm",
                client=client,
                sequence=3,
                receipted_message_id="0123456789",
                message_state=2,
                **DELIVER,
            ),
        ),
        "bind_transceiver": case(
            lambda: make(
                "bind_transceiver", client=client, sequence=1, interface_version=0x34, **BIND
            ),
        ),
    }


def _number(fn: Callable[[], object], budget: float) -> int:
    """Iterations per timing run so that one run takes about *budget* seconds."""
    once = min(timeit.Timer(fn).repeat(repeat=3, number=20)) / 20
    return max(10, min(200_000, int(budget / max(once, 1e-9))))


def _cases(case: _Case) -> dict[str, Callable[[], object]]:
    return {
        "codec": case.codec_of(case.build()),
        "build": case.build,
        "total": case.total_of(case.build),
    }


def run(repeat: int, budget: float) -> dict[str, Any]:
    ours, theirs = _ours(), _smpplib()
    fns: dict[tuple[str, str, str], Callable[[], object]] = {}
    for name in ours:
        for lib, cases in (("smppcore", ours), ("smpplib", theirs)):
            for what, fn in _cases(cases[name]).items():
                fns[(name, what, lib)] = fn
    numbers = {key: _number(fn, budget) for key, fn in fns.items()}
    runs: dict[tuple[str, str, str], list[float]] = {key: [] for key in fns}
    for _ in range(repeat):  # interleaved, so both libraries see the same background load
        for key, fn in fns.items():
            runs[key].append(timeit.Timer(fn).timeit(numbers[key]) / numbers[key] * 1e6)
    results: dict[str, Any] = {}
    for name in ours:
        row: dict[str, Any] = {}
        for what in ("codec", "build", "total"):
            a, b = runs[(name, what, "smppcore")], runs[(name, what, "smpplib")]
            a_best, a_med, b_best, b_med = (
                min(a),
                statistics.median(a),
                min(b),
                statistics.median(b),
            )
            row[what] = {
                "smppcore_us": round(a_best, 3),
                "smppcore_median_us": round(a_med, 3),
                "smpplib_us": round(b_best, 3),
                "smpplib_median_us": round(b_med, 3),
                "ratio": round(b_best / a_best, 1),
                "ratio_median": round(b_med / a_med, 1),
            }
        results[name] = row
    return {
        "benchmark": "codec: encode+decode of a built PDU (codec), build alone, both (total)",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "repeat": repeat,
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--budget", type=float, default=0.02, help="seconds per timing run")
    args = parser.parse_args(argv)
    report = run(args.repeat, args.budget)
    if args.json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
        return 0
    print("µs per PDU, best (median) of runs; ratio = smpplib / smppcore")
    print(f"{'PDU':<20}{'measure':<9}{'smppcore':>16}{'smpplib':>18}{'ratio':>15}")
    for name, row in report["results"].items():
        for what, r in row.items():
            ours = f"{r['smppcore_us']:.2f} ({r['smppcore_median_us']:.2f})"
            theirs = f"{r['smpplib_us']:.2f} ({r['smpplib_median_us']:.2f})"
            ratio = f"{r['ratio']:.1f}x ({r['ratio_median']:.1f}x)"
            print(f"{name:<20}{what:<9}{ours:>16}{theirs:>18}{ratio:>15}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
