"""``smppcore erase|export|optout`` as real subprocesses on a temp config and data dir."""

from __future__ import annotations

import json
import os
import re
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


# --- arguments are checked: no trap answers "added: 1" to a typo -------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ("optout", "add", "123", "--scope", "alpha"),
        ("optout", "remove", "abc", "--scope", "alpha"),
        ("optout", "check", "0821234567x"),
        ("erase", "abc"),
        ("erase", "123"),
        ("export", "+999 123 4567"),
        ("export", "+2782123456789012"),  # 16 digits
    ],
)
def test_a_handset_that_is_not_a_phone_number_exits_2(
    config_file: Path, argv: tuple[str, ...]
) -> None:
    result = run(*argv, "--config", str(config_file))
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "MSISDN is not a phone number" in result.stderr
    assert argv[2 if argv[0] == "optout" else 1] not in result.stderr  # never echoed
    assert not (config_file.parent / "data").exists()  # refused before the store opened


@pytest.mark.parametrize("scope", ["nobody", "27600009999", "0821234567"])
def test_a_scope_the_config_does_not_define_exits_2(config_file: Path, scope: str) -> None:
    result = run("optout", "add", HANDSET, "--scope", scope, "--config", str(config_file))
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "is neither an account's system_id (alpha) nor a sender number" in result.stderr
    if scope.isdigit():
        assert scope not in result.stderr  # a number is masked
    assert json.loads(run("optout", "list", "--config", str(config_file)).stdout) == []


def test_a_scope_is_an_account_or_an_owned_sender_in_any_written_form(config_file: Path) -> None:
    cfg = str(config_file)
    added = run("optout", "add", HANDSET, "--scope", "alpha", "--scope", "060 000 0002",
                "--scope", "+27600000003", "--config", cfg)  # fmt: skip
    assert (added.returncode, json.loads(added.stdout)) == (0, {"added": 3}), added.stderr


# --- optout check -----------------------------------------------------------------------


def test_optout_check_per_asked_scope(config_file: Path) -> None:
    cfg = str(config_file)
    run("optout", "add", HANDSET, "--scope", "27600000002", "--keyword", "STOP", "--config", cfg)
    checked = run("optout", "check", "082 123 4567", "--scope", "alpha",
                  "--scope", "+27600000002", "--config", cfg)  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    answer = json.loads(checked.stdout)
    assert answer["suppressed"] is True
    alpha, sender = answer["scopes"]
    assert alpha == {"scope": "alpha", "suppressed": False}
    assert sender["scope"] == "27600000002" and sender["suppressed"] is True
    assert sender["keyword"] == "STOP"
    assert sender["created_at"].endswith("Z")
    assert HANDSET not in checked.stdout

    other = run("optout", "check", "0821234568", "--scope", "alpha", "--config", cfg)
    assert other.returncode == 0, other.stderr
    assert json.loads(other.stdout) == {
        "suppressed": False,
        "scopes": [{"scope": "alpha", "suppressed": False}],
    }


def test_optout_check_without_scope_names_every_suppression(config_file: Path) -> None:
    cfg = str(config_file)
    assert json.loads(run("optout", "check", HANDSET, "--config", cfg).stdout) == {
        "suppressed": False,
        "scopes": [],
    }
    run("optout", "add", HANDSET, "--scope", "alpha", "--scope", "27600000007", "--config", cfg)
    checked = run("optout", "check", "+27821234567", "--config", cfg)
    assert checked.returncode == 0, checked.stderr
    answer = json.loads(checked.stdout)
    assert answer["suppressed"] is True
    assert sorted(e["scope"] for e in answer["scopes"]) == ["27600000007", "alpha"]
    assert all(e["suppressed"] and e["keyword"] == "CLI" for e in answer["scopes"])
    run("optout", "remove", HANDSET, "--scope", "alpha", "--scope", "27600000007", "--config", cfg)
    assert (
        json.loads(run("optout", "check", HANDSET, "--config", cfg).stdout)["suppressed"] is False
    )


# --- export reads like a record, not like a row -----------------------------------------

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")
TIME_FIELDS = ("at", "created_at", "updated_at", "expires_at", "submitted_at", "final_at",
               "not_before", "validity_until", "lease_until", "received_at")  # fmt: skip


def test_export_gives_times_in_iso_utc_and_states_by_name(config_file: Path) -> None:
    config = load_config(config_file)
    when = 1796418000.0  # 2026-12-04T21:00:00Z

    async def work() -> None:
        async with open_configured_store(config) as store:
            await store.enqueue_mt(
                [MtMessage(id="m1", account="alpha", connector="op", source_addr="27600000001",
                           destination_addr=HANDSET, submitted_at=when, expires_at=when + 0.25,
                           segment_states={1: 2})]
            )  # fmt: skip
            await store.put_conversations(
                [Conversation("27600000001", HANDSET, "alpha", when, 9e9)]
            )
            await store.enqueue_delivery(
                [DeliveryItem(id="d1", account="alpha", kind=DeliveryKind.RECEIPT,
                              source_addr=HANDSET, destination_addr="27600000001",
                              created_at=when)]
            )  # fmt: skip
            await record_opt_out(store, "27600000001", HANDSET, "STOP", when)

    trio.run(work)
    result = run("export", HANDSET, "--config", str(config_file))
    assert result.returncode == 0, result.stderr
    exported = json.loads(result.stdout)
    (mt,) = exported["mt_messages"]
    assert mt["state"] == "QUEUED" and mt["segment_states"] == {"1": "DELIVERED"}
    assert mt["submitted_at"] == "2026-12-04T21:00:00Z"
    assert mt["expires_at"] == "2026-12-04T21:00:00.250Z"
    assert mt["final_at"] is None  # 0: not set
    (item,) = exported["delivery_items"]
    assert item["kind"] == "RECEIPT" and item["created_at"] == "2026-12-04T21:00:00Z"
    assert exported["conversations"][0]["updated_at"] == "2026-12-04T21:00:00Z"
    assert exported["suppressions"][0]["created_at"] == "2026-12-04T21:00:00Z"
    assert exported["audit"][0]["at"] == "2026-12-04T21:00:00Z"
    for kind, records in exported.items():
        for record in records:
            for name in TIME_FIELDS:
                value = record.get(name)
                assert value is None or ISO_UTC.match(value), (kind, name, value)
            assert not isinstance(record.get("state", ""), int), kind
            assert not isinstance(record.get("kind", ""), int), kind


def test_readable_keeps_unknown_states_as_numbers() -> None:
    from smppcore.cli_data import iso_utc, readable

    records = {"mt_messages": [{"state": 77, "segment_states": {"1": 1, "2": 99}}],
               "delivery_items": [{"kind": 9}], "audit": [{"at": 0.0}]}  # fmt: skip
    assert readable(records) == {
        "mt_messages": [{"state": 77, "segment_states": {"1": "ENROUTE", "2": 99}}],
        "delivery_items": [{"kind": 9}],
        "audit": [{"at": None}],
    }
    assert iso_utc(1e20) == "1e+20"  # beyond datetime: shown as written, not an error
