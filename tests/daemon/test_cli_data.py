"""``smppcore erase|export|optout`` as real subprocesses on a temp config and data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from smppcore.config import load_config
from smppcore.gateway.privacy import open_configured_store, record_opt_out
from smppcore.store.base import Conversation, DeliveryItem, DeliveryKind, MtMessage

pytestmark = pytest.mark.slow

SMPPCORE = Path(sys.executable).parent / "smppcore"
HANDSET = "27821234567"
DEMO_HASH = (  # scrypt of "demopass", as in configs/local.toml
    "scrypt$16384$8$1$4ve49GeXFQ2CgBNjov0/WA==$0G8iv5Vsb0KWRwQ7TZzQOl2jmPKhuA5pCkzR3UGNTMM="
)
CONFIG = """
[daemon]
data_dir = "data"

[store]
backend = "sqlite"

[policy]
default_country = "ZA"

[[accounts]]
system_id = "alpha"
password_hash = "{hash}"
source_numbers = ["27600000000-27600000999"]
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SMPPCORE_DATA_DIR"}
    return subprocess.run(
        [str(SMPPCORE), *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "gw.toml"
    path.write_text(CONFIG.replace("{hash}", DEMO_HASH))
    return path


def seed(config_file: Path) -> None:
    config = load_config(config_file)

    async def work() -> None:
        async with open_configured_store(config) as store:
            await store.enqueue_mt(
                [MtMessage(id="m1", account="alpha", connector="op",
                           source_addr="27600000001", destination_addr=HANDSET)]
            )  # fmt: skip
            await store.put_conversations([Conversation("27600000001", HANDSET, "alpha", 1.0, 9e9)])
            await store.enqueue_delivery(
                [DeliveryItem(id="d1", account="alpha", kind=DeliveryKind.MO,
                              source_addr=HANDSET, destination_addr="27600000001",
                              short_message=b"hello")]
            )  # fmt: skip
            await record_opt_out(store, "27600000001", HANDSET, "STOP", 1.0)

    trio.run(work)


def test_export_then_erase(config_file: Path) -> None:
    seed(config_file)
    # the operator types the number nationally; it is found in E.164 form
    result = run("export", "082 123 4567", "--config", str(config_file))
    assert result.returncode == 0, result.stderr
    exported = json.loads(result.stdout)
    assert len(exported["mt_messages"]) == 1
    assert len(exported["conversations"]) == 1
    assert len(exported["delivery_items"]) == 1
    assert len(exported["suppressions"]) == 1

    result = run("erase", "+27821234567", "--config", str(config_file))
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)["erased"]
    assert counts["mt_messages"] == 1 and counts["delivery_items"] == 1
    assert HANDSET not in result.stdout

    after = json.loads(run("export", HANDSET, "--config", str(config_file)).stdout)
    assert not any(after[k] for k in ("mt_messages", "conversations", "delivery_items"))
    assert len(after["suppressions"]) == 1  # the hashed opt-out stays


def test_optout_add_list_remove(config_file: Path) -> None:
    cfg = str(config_file)
    added = run("optout", "add", "0821234567", "--scope", "alpha", "--scope", "27600000002",
                "--config", cfg)  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {"added": 2}

    listed = run("optout", "list", "--config", cfg)
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    assert len(entries) == 2 and {e["keyword"] for e in entries} == {"CLI"}
    assert "821234567" not in listed.stdout  # hashes only

    removed = run("optout", "remove", HANDSET, "--scope", "alpha", "--config", cfg)
    assert json.loads(removed.stdout) == {"removed": 1}
    assert len(json.loads(run("optout", "list", "--config", cfg).stdout)) == 1


def test_bad_config_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[accounts]]\nsystem_id = 'x'\n")
    result = run("optout", "list", "--config", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""


@pytest.mark.parametrize(
    "typed", ["082 123 4567", "082-123-4567", "(082) 123.4567", "+27821234567"]
)
def test_a_number_in_any_written_form_reaches_its_e164_form(typed: str) -> None:
    from smppcore.cli import _msisdn_forms

    config = load_config(Path(__file__).parents[2] / "configs" / "local.toml")
    assert "27821234567" in _msisdn_forms(config, typed)
