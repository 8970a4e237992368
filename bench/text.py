"""Text micro-benchmark: GSM/UCS2 encode, encoding choice and splitting, receipt parsing.

Cases: a 160-character GSM text (one part, with a few extension characters) and a 3-part
UCS2 text (Cyrillic with an emoji). Loops are bounded: every measurement runs a fixed
number of iterations (calibrated to ~``--budget`` s) and the best of ``--repeat`` runs is
kept. If the ``gsm0338`` package happens to be importable its encoder is timed too, for
comparison (it is not a dependency).

    python bench/text.py            # table
    python bench/text.py --json     # exactly one JSON object on stdout
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import timeit
from collections.abc import Callable
from typing import Any

from smppcore.protocol.gsm7 import decode_gsm7, encode_gsm7, pack_septets
from smppcore.protocol.receipt import id_variants, parse_receipt
from smppcore.protocol.segment import split_text
from smppcore.protocol.text import TextEncoding, choose_encoding, encode_text

GSM_160 = ("Your code is 123456 {valid 10 min}. Don't share it! Ref: ABC-42 @ £5 " * 3)[:160]
UCS2_3PART = ("Привет! Ваш код 123456 действует 10 минут 😀 " * 5)[:190]
RECEIPT = (
    "id:0123456789 sub:001 dlvrd:001 submit date:2506301430 done date:2506301431 "
    "stat:DELIVRD err:000 text:Your verification"
)


def _cases() -> dict[str, Callable[[], object]]:
    gsm_septets = encode_gsm7(GSM_160)
    cases: dict[str, Callable[[], object]] = {
        "gsm160_encode": lambda: encode_gsm7(GSM_160),
        "gsm160_decode": lambda: decode_gsm7(gsm_septets),
        "gsm160_pack": lambda: pack_septets(gsm_septets),
        "gsm160_choose_encoding": lambda: choose_encoding(GSM_160),
        "gsm160_split": lambda: split_text(GSM_160, reference=1),
        "ucs2_3part_encode": lambda: encode_text(UCS2_3PART, TextEncoding.UCS2),
        "ucs2_3part_choose_encoding": lambda: choose_encoding(UCS2_3PART),
        "ucs2_3part_split": lambda: split_text(UCS2_3PART, reference=1),
        "receipt_parse": lambda: parse_receipt(RECEIPT),
        "id_variants": lambda: id_variants("0000671580"),
    }
    try:
        import gsm0338
    except ImportError:
        pass
    else:
        codec = gsm0338.Codec()
        cases["gsm160_encode_gsm0338_pkg"] = lambda: codec.encode(GSM_160)
    return cases


def _time(fn: Callable[[], object], repeat: int, budget: float) -> float:
    """Best-of-*repeat* seconds per call, each run a fixed iteration count (~budget s)."""
    timer = timeit.Timer(fn)
    once = min(timer.repeat(repeat=3, number=20)) / 20
    number = max(10, min(200_000, int(budget / max(once, 1e-9))))
    return min(timer.repeat(repeat=repeat, number=number)) / number


def run(repeat: int, budget: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, fn in _cases().items():
        seconds = _time(fn, repeat, budget)
        results[name] = {"us": round(seconds * 1e6, 3), "per_second": int(1 / seconds)}
    return {
        "benchmark": "text encode / choose encoding / split (smppcore.protocol)",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "repeat": repeat,
        "gsm_text_chars": len(GSM_160),
        "ucs2_text_parts": split_text(UCS2_3PART, reference=1).total,
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--budget", type=float, default=0.1, help="seconds per timing run")
    args = parser.parse_args(argv)
    report = run(args.repeat, args.budget)
    if args.json:
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
        return 0
    print(f"{'case':<30}{'µs':>10}{'per second':>14}")
    for name, r in report["results"].items():
        print(f"{name:<30}{r['us']:>10.2f}{r['per_second']:>14,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
