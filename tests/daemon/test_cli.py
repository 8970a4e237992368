"""The smppcore command line, run as a real subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from smppcore.passwords import verify_password

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SMPPCORE = Path(sys.executable).parent / "smppcore"


def run(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "SMPPCORE_DATA_DIR"}
    full_env.update(env or {})
    return subprocess.run(
        [str(SMPPCORE), *args], input=stdin, capture_output=True, text=True, timeout=60,
        env=full_env, check=False,
    )  # fmt: skip


def test_check_config_ok() -> None:
    result = run("check-config", str(REPO / "configs" / "local.toml"))
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert "local.toml: OK" in line and "1 account(s)" in line and "127.0.0.1:2775" in line
    assert "demopass" not in result.stdout and "scrypt$" not in result.stdout


def test_check_config_with_data_dir(tmp_path: Path) -> None:
    result = run("check-config", str(REPO / "configs" / "local.toml"), "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"data dir {tmp_path}" in result.stdout


def test_check_config_error_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[accounts]]\nsystem_id = "demo"\n')
    result = run("check-config", str(config))
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"{config}: accounts[0].password_hash: required key is missing" in result.stderr


def test_check_config_and_run_refuse_accounts_owning_the_same_numbers(tmp_path: Path) -> None:
    """check-config used to pass this config, and run then failed with OwnershipConflict."""
    local = (REPO / "configs" / "local.toml").read_text()
    (demo_hash,) = re.findall(r'^password_hash = "(.*)"$', local, re.MULTILINE)
    other = f'[[accounts]]\nsystem_id = "other"\npassword_hash = "{demo_hash}"\n'
    other += 'source_numbers = ["276000005*"]\n\n'
    config = tmp_path / "overlap.toml"
    config.write_text(local.replace("[[connectors]]", other + "[[connectors]]", 1))
    expected = (
        f"{config}: accounts[1].source_numbers: number ownership overlaps between accounts:"
        " demo and other"
    )
    data = ("--data-dir", str(tmp_path / "data"))
    checked = run("check-config", str(config), *data)
    for result in (checked, run("run", "--config", str(config), *data)):
        assert result.returncode == 2, result.stderr
        assert result.stdout == ""
        assert expected in result.stderr
        assert "27600000" not in result.stderr  # accounts are named, numbers never shown
    assert not (tmp_path / "data").exists()  # refused before anything was opened


def test_check_config_builds_what_run_builds(tmp_path: Path) -> None:
    """A connector option its plugin refuses: check-config says so (exit 2) instead of
    passing a config run then cannot start with (exit 1, the same reason)."""
    local = (REPO / "configs" / "local.toml").read_text()
    config = tmp_path / "badoption.toml"
    config.write_text(
        local.replace("reconnect_max = 10\n", "reconnect_max = 10\n[connectors.options]\n"
                      "poll_intervall = 1\n", 1)
    )  # fmt: skip
    why = "unknown option 'poll_intervall' for the smpp connector"
    checked = run("check-config", str(config))
    assert checked.returncode == 2
    assert checked.stdout == ""
    assert f"{config}: connector sim: ValueError: {why}" in checked.stderr
    started = run("run", "--config", str(config), "--data-dir", str(tmp_path / "data"))
    assert started.returncode == 1
    assert "daemon.startup_failed" in started.stdout + started.stderr
    assert why in started.stdout + started.stderr


def test_hash_password_from_stdin() -> None:
    result = run("hash-password", stdin="demopass\n")
    assert result.returncode == 0, result.stderr
    encoded = result.stdout.strip()
    assert encoded.startswith("scrypt$")
    assert verify_password("demopass", encoded)
    assert not verify_password("demopass\n", encoded)


def test_hash_password_refuses_empty() -> None:
    result = run("hash-password", stdin="")
    assert result.returncode == 2
    assert "empty password" in result.stderr


def test_run_with_bad_config_exits_2(tmp_path: Path) -> None:
    result = run("run", "--config", str(tmp_path / "absent.toml"))
    assert result.returncode == 2
    assert "cannot read the file" in result.stderr


def test_usage_errors_exit_2() -> None:
    assert run().returncode == 2
    assert run("frobnicate").returncode == 2
    assert run("run").returncode == 2  # --config is required


@pytest.mark.parametrize("command", ["run", "check-config", "hash-password", "simulate"])
def test_help(command: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: smppcore " + command)


@pytest.mark.parametrize("is_async", [False, True])
def test_run_hands_the_loaded_config_to_run_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, is_async: bool
) -> None:
    import types

    import structlog

    from smppcore.cli import main
    from smppcore.config import Config
    from smppcore.logs import configure_logging

    received: list[Config] = []
    fake = types.ModuleType("smppcore.daemon")
    if is_async:

        async def run_daemon(config: Config) -> None:
            received.append(config)

    else:

        def run_daemon(config: Config) -> None:
            received.append(config)

    fake.run_daemon = run_daemon  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "smppcore.daemon", fake)
    try:
        code = main(["run", "--config", str(REPO / "configs" / "local.toml"),
                     "--data-dir", str(tmp_path)])  # fmt: skip
    finally:
        structlog.reset_defaults()
        configure_logging("console", "warning")
    assert code == 0
    (config,) = received
    assert config.daemon.data_dir == tmp_path
    assert config.account("demo") is not None


def test_docstring_lists_every_subcommand_with_exit_codes() -> None:
    import smppcore.cli as cli

    doc = cli.__doc__ or ""
    blocks = {block.split(None, 1)[0]: block for block in doc.split("\n    smppcore ")[1:]}
    assert set(blocks) == set(cli.COMMANDS)
    for name, block in blocks.items():
        assert "\n        0 " in block, name  # every block states its exit codes


def test_version_is_the_packages_alike_from_the_script_and_python_m() -> None:
    from importlib.metadata import version

    import smppcore

    assert version("smppcore") == smppcore.__version__
    script = run("--version")
    assert (script.returncode, script.stdout.strip()) == (0, f"smppcore {smppcore.__version__}")
    module = subprocess.run(
        [sys.executable, "-m", "smppcore", "--version"], capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert (module.returncode, module.stdout) == (0, script.stdout)


def test_check_config_reports_every_problem_in_one_run_and_no_files_skips_them(
    tmp_path: Path,
) -> None:
    """The production example on a machine without its certificates and secrets: one run
    names every missing file and variable; --no-files checks the rest and passes."""
    config = tmp_path / "prod.toml"
    config.write_text((REPO / "configs" / "production.example.toml").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMPPCORE_")}
    full = run("check-config", str(config), "--data-dir", str(tmp_path / "d"), env=env)
    assert full.returncode == 2
    lines = [line for line in full.stderr.splitlines() if line.strip()]
    for key in ("listeners[0].tls_cert", "listeners[0].tls_key", "connectors[0].tls_ca_file"):
        assert any(f": {key}: cannot read" in line for line in lines), (key, full.stderr)
    for variable in ("SMPPCORE_HASH_SECRET", "SMPPCORE_OP_ZA_PASSWORD", "SMPPCORE_OP_NA_PASSWORD"):
        assert any(f"{variable} is not set" in line for line in lines), (variable, full.stderr)
    alone = run(
        "check-config", str(config), "--data-dir", str(tmp_path / "d"), "--no-files", env=env
    )
    assert alone.returncode == 0, alone.stderr
    assert "--no-files" in alone.stdout


def test_an_empty_certificate_file_is_refused(tmp_path: Path) -> None:
    text = (REPO / "configs" / "local.toml").read_text()
    marker = "[[listeners]]\n"
    assert marker in text
    (tmp_path / "empty.pem").write_text("")
    tls = 'tls = true\ntls_cert = "empty.pem"\ntls_key = "empty.pem"\n'
    config = tmp_path / "c.toml"
    config.write_text(text.replace(marker, marker + tls, 1))
    result = run("check-config", str(config), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2
    assert "empty.pem is empty" in result.stderr


def _local_with_metrics(tmp_path: Path, metrics: str) -> Path:
    local = (REPO / "configs" / "local.toml").read_text()
    start = local.index("[metrics]\n")
    end = local.index("\n[", start + 1)
    config = tmp_path / "gw.toml"
    config.write_text(local[:start] + metrics + local[end:])
    return config


def test_status_with_metrics_disabled_says_what_it_needs(tmp_path: Path) -> None:
    config = _local_with_metrics(tmp_path, "[metrics]\nenabled = false\n")
    result = run("status", "--config", str(config), "--timeout", "2")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "status reads the daemon's /metrics endpoint" in result.stderr
    assert "[metrics] enabled = true" in result.stderr


def test_status_without_a_daemon_says_nothing_answers(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = _local_with_metrics(tmp_path, f'[metrics]\nhost = "127.0.0.1"\nport = {port}\n')
    result = run("status", "--config", str(config), "--timeout", "2")
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"no daemon answering at http://127.0.0.1:{port}/metrics" in result.stderr
    assert "is it running" in result.stderr


@pytest.mark.parametrize("action", ["list", "add", "remove", "check"])
def test_optout_action_help(action: str) -> None:
    result = run("optout", action, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: smppcore optout " + action)
