"""The deployment files in deploy/: they say what the code does."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from smppcore.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "systemd" / "smppcore.service"
INSTALLED = "/opt/smppcore/bin/smppcore"


def _exec_lines() -> list[list[str]]:
    lines = [
        ln for ln in UNIT.read_text().splitlines() if ln.startswith(("ExecStart=", "ExecStartPre="))
    ]
    return [shlex.split(ln.split("=", 1)[1]) for ln in lines]


def test_the_units_commands_are_ones_the_cli_accepts() -> None:
    commands = _exec_lines()
    assert [c[1] for c in commands] == ["check-config", "run"]
    for command in commands:
        assert command[0] == INSTALLED
        build_parser().parse_args(command[1:])  # exits 2 (SystemExit) if it does not parse


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    smppcore = Path(sys.executable).parent / "smppcore"
    unit = tmp_path / "smppcore.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED, str(smppcore)))
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert (verify.returncode, verify.stderr.strip()) == (0, "")
