"""Config loading: every class of mistake gives a message naming file, key and problem."""

from __future__ import annotations

import os
import shutil
import stat
from datetime import datetime, timedelta
from pathlib import Path

import phonenumbers
import pytest
import trustme

from smppcore.config import (
    DATA_DIR_ENV,
    ConfigError,
    SmppcoreConfigError,
    ensure_hash_secret,
    load_config,
)
from smppcore.passwords import hash_password

REPO = Path(__file__).resolve().parents[2]
HASH = hash_password("demopass")

BASE = f"""
[daemon]
data_dir = "state"

[[accounts]]
system_id = "demo"
password_hash = "{HASH}"
source_numbers = ["27600000000-27600000999"]

[[connectors]]
name = "sim"
hosts = ["127.0.0.1:2776"]
system_id = "sim"
password = "simpass"

[[routes]]
connectors = ["sim"]
"""


def write(tmp_path: Path, text: str, name: str = "smppcore.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_for(tmp_path: Path, text: str, **kwargs: object) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={}, **kwargs)  # type: ignore[arg-type]
    assert str(path) in str(info.value)
    return info.value


def test_base_config_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE), environ={})
    assert config.accounts[0].system_id == "demo"
    assert config.account("demo") is config.accounts[0]
    assert config.connector("sim") is config.connectors[0]
    assert config.routes[0].is_default


def test_missing_password_hash(tmp_path: Path) -> None:
    text = BASE + '\n[[accounts]]\nsystem_id = "other"\n'
    err = error_for(tmp_path, text)
    assert err.key == "accounts[1].password_hash"
    assert str(err).endswith("accounts[1].password_hash: required key is missing")
    assert isinstance(err, SmppcoreConfigError)


def test_malformed_password_hash_is_rejected_without_echoing_it(tmp_path: Path) -> None:
    err = error_for(tmp_path, BASE.replace(HASH, "demopass"))
    assert err.key == "accounts[0].password_hash"
    assert "scrypt$n$r$p$salt$hash" in str(err)
    assert "demopass" not in str(err)


def test_route_to_unknown_connector(tmp_path: Path) -> None:
    err = error_for(tmp_path, BASE.replace('connectors = ["sim"]', 'connectors = ["sim", "nope"]'))
    assert err.key == "routes[0].connectors[1]"
    assert "unknown connector 'nope'" in str(err)


def test_route_for_unknown_account(tmp_path: Path) -> None:
    err = error_for(tmp_path, BASE + '\n[[routes]]\naccount = "ghost"\nconnectors = ["sim"]\n')
    assert err.key == "routes[1].account"
    assert "unknown account 'ghost'" in str(err)


def test_unreadable_certificate(tmp_path: Path) -> None:
    text = BASE + '\n[[listeners]]\ntls_cert = "missing.crt"\ntls_key = "missing.key"\n'
    err = error_for(tmp_path, text)
    assert err.key == "listeners[0].tls_cert"
    assert "cannot read" in str(err) and "missing.crt" in str(err)


def test_cert_without_key(tmp_path: Path) -> None:
    (tmp_path / "server.crt").write_text("x")
    err = error_for(tmp_path, BASE + '\n[[listeners]]\ntls_cert = "server.crt"\n')
    assert err.key == "listeners[0].tls_key"
    assert "together" in str(err)


def test_duplicate_account(tmp_path: Path) -> None:
    text = BASE + f'\n[[accounts]]\nsystem_id = "demo"\npassword_hash = "{HASH}"\n'
    err = error_for(tmp_path, text)
    assert err.key == "accounts[1].system_id"
    assert "'demo' is defined twice" in str(err)


def test_accounts_owning_the_same_numbers(tmp_path: Path) -> None:
    other = f'[[accounts]]\nsystem_id = "other"\npassword_hash = "{HASH}"\n'
    err = error_for(tmp_path, BASE + "\n" + other + 'source_numbers = ["276000005*"]\n')
    assert err.key == "accounts[1].source_numbers"
    assert "overlaps between accounts: demo and other" in err.problem
    assert "276" not in err.problem  # the accounts are named, never the numbers
    apart = BASE + "\n" + other + 'source_numbers = ["276000010*"]\n'
    assert len(load_config(write(tmp_path, apart), environ={}).accounts) == 2


def test_duplicate_connector(tmp_path: Path) -> None:
    extra = '[[connectors]]\nname = "sim"\nhosts = ["h:1"]\nsystem_id = "x"\npassword = "p"\n'
    text = BASE + "\n" + extra
    err = error_for(tmp_path, text)
    assert err.key == "connectors[1].name"
    assert "defined twice" in str(err)


@pytest.mark.parametrize(
    ("cidr", "what"),
    [("10.0.0.1/8", "host bits set"), ("not-an-ip", "not a valid CIDR"), ("10.0.0.0/33", "CIDR")],
)
def test_bad_cidr(tmp_path: Path, cidr: str, what: str) -> None:
    allowed = f'allowed_ips = ["127.0.0.0/8", "{cidr}"]\n'
    text = BASE.replace("source_numbers", allowed + "source_numbers")
    err = error_for(tmp_path, text)
    assert err.key == "accounts[0].allowed_ips[1]"
    assert what in str(err)


@pytest.mark.parametrize(
    ("pattern", "what"),
    [
        ("27600000999-27600000000", "start is greater than the end"),
        ("2760000-27600000999", "same number of digits"),
        ("27abc", "1-15 digits"),
        ("27*0", "1-15 digits"),
    ],
)
def test_bad_number_range(tmp_path: Path, pattern: str, what: str) -> None:
    err = error_for(tmp_path, BASE.replace("27600000000-27600000999", pattern))
    assert err.key == "accounts[0].source_numbers[0]"
    assert what in str(err)


def test_port_out_of_range(tmp_path: Path) -> None:
    err = error_for(tmp_path, BASE + "\n[metrics]\nport = 70000\n")
    assert err.key == "metrics.port"
    assert "out of range 1-65535" in str(err)


def test_port_out_of_range_in_host_list(tmp_path: Path) -> None:
    err = error_for(tmp_path, BASE.replace("127.0.0.1:2776", "127.0.0.1:0"))
    assert err.key == "connectors[0].hosts[0]"
    assert "out of range" in str(err)


def test_two_services_on_one_port(tmp_path: Path) -> None:
    err = error_for(tmp_path, BASE + "\n[[listeners]]\nport = 9775\n")
    assert err.key == "metrics.port"
    assert "already used by listeners[0].port" in str(err)


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    err = error_for(tmp_path, BASE.replace("source_numbers", "source_number"))
    assert err.key == "accounts[0].source_number"
    assert "unknown key (did you mean 'source_numbers'?)" in str(err)


def test_unknown_section(tmp_path: Path) -> None:
    err = error_for(tmp_path, BASE + "\n[metrcs]\nport = 9000\n")
    assert err.key == "metrcs"
    assert "did you mean 'metrics'" in str(err)


@pytest.mark.parametrize(
    ("snippet", "key", "what"),
    [
        ('[metrics]\nport = "9775"', "metrics.port", "expected an integer, got a string"),
        ("[metrics]\nenabled = 1", "metrics.enabled", "expected true or false, got an integer"),
        ("[[listeners]]\nwindow = true", "listeners[0].window", "expected an integer, got true"),
        ('[logging]\nformat = "xml"', "logging.format", "must be one of 'console', 'json'"),
        ('[policy]\nreply_capable_types = "mobile"', "policy.reply_capable_types", "a list"),
        ("[store]\npath = 5", "store.path", "expected a file path string"),
        ("daemon = 3", "daemon", "expected a table, got an integer"),
    ],
)
def test_wrong_types(tmp_path: Path, snippet: str, key: str, what: str) -> None:
    text = BASE.replace('[daemon]\ndata_dir = "state"\n', "") if "daemon" in snippet else BASE
    err = error_for(tmp_path, snippet + "\n" + text if "daemon" in snippet else text + snippet)
    assert err.key == key
    assert what in str(err)


def test_default_reply_account_names_a_configured_account(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, BASE + '[policy]\ndefault_reply_account = "demo"\n'), environ={}
    )
    assert config.policy.default_reply_account == "demo"
    assert load_config(write(tmp_path, BASE), environ={}).policy.default_reply_account is None


def test_bad_values(tmp_path: Path) -> None:
    cases = [
        ('[policy]\ndefault_country = "XX"', "policy.default_country", "not a country code"),
        ("[policy]\nsuppressed_status = 0", "policy.suppressed_status", "not 0"),
        ('[policy]\nreply_capable_types = ["cell"]', "policy.reply_capable_types", "number type"),
        ("[retention]\nmessage_hours = 0", "retention.message_hours", "greater than 0"),
        ('[store]\nredis_url = "http://x"', "store.redis_url", "redis://"),
        ('[store]\nredis_url = "redis://h:abc/0"', "store.redis_url", "Port could not be cast"),
        ('[simulator]\noutcomes = { WAT = 1.0 }', "simulator.outcomes", "not a receipt stat"),
        ("[[listeners]]\ninactivity_timeout = 10", "listeners[0].inactivity_timeout", "longer"),
        ('[policy.keywords.default]\nopt_in = ["stop"]', "policy.keywords.default.opt_in",
         "'STOP' is also listed in opt_out"),
        ('[policy]\ndefault_reply_account = "nobody"', "policy.default_reply_account",
         "unknown account 'nobody' (accounts: demo)"),
        ('[policy]\ndefault_reply_account = ""', "policy.default_reply_account", "1-15"),
    ]  # fmt: skip
    for snippet, key, what in cases:
        err = error_for(tmp_path, BASE + snippet + "\n")
        assert (err.key, what in str(err)) == (key, True), str(err)


def test_connector_password_rules(tmp_path: Path) -> None:
    err = error_for(tmp_path, BASE.replace('password = "simpass"', ""))
    assert err.key == "connectors[0].password"
    assert "exactly one of password or password_env" in str(err)

    text = BASE.replace('password = "simpass"', 'password_env = "SIM_PASSWORD"')
    err = error_for(tmp_path, text)
    assert err.key == "connectors[0].password_env"
    assert "SIM_PASSWORD is not set" in str(err)

    config = load_config(write(tmp_path, text), environ={"SIM_PASSWORD": "s3cret-from-env"})
    assert config.connectors[0].password == "s3cret-from-env"
    assert "s3cret-from-env" not in repr(config)


def test_repr_hides_secrets(tmp_path: Path) -> None:
    text = BASE + '\n[store]\nhash_secret_env = "HS"\n[simulator]\npassword = "simsecret"\n'
    config = load_config(write(tmp_path, text), environ={"HS": "a-very-long-hash-secret"})
    assert config.store.hash_secret == b"a-very-long-hash-secret"
    shown = repr(config) + str(config)
    for secret in (HASH, "simpass", "simsecret", "a-very-long-hash-secret"):
        assert secret not in shown


def test_redis_store_requires_a_shared_secret(tmp_path: Path) -> None:
    err = error_for(tmp_path, BASE + '\n[store]\nbackend = "redis"\n')
    assert err.key == "store.hash_secret_env"
    assert "same secret" in str(err)
    err = error_for(tmp_path, BASE + '\n[store]\nhash_secret_env = "HS"\n')
    assert "environment variable HS is not set" in str(err)


def test_short_secret_file(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("short\n")
    err = error_for(tmp_path, BASE + '\n[store]\nhash_secret_file = "secret"\n')
    assert err.key == "store.hash_secret_file"
    assert "at least 16 bytes" in str(err)


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    err = error_for(tmp_path, BASE + "\n[metrics\n")
    assert "not valid TOML" in str(err)
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "absent.toml")


def test_data_dir_override_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    path = write(conf_dir, BASE)
    env_dir, arg_dir = tmp_path / "from-env", tmp_path / "from-arg"

    from_file = load_config(path, environ={})
    assert from_file.daemon.data_dir == conf_dir / "state"  # relative to the file, not the cwd
    assert from_file.store.path == conf_dir / "state" / "smppcore.sqlite3"

    from_env = load_config(path, environ={DATA_DIR_ENV: str(env_dir)})
    assert from_env.daemon.data_dir == env_dir
    assert from_env.store.path == env_dir / "smppcore.sqlite3"

    from_arg = load_config(path, data_dir=arg_dir, environ={DATA_DIR_ENV: str(env_dir)})
    assert from_arg.daemon.data_dir == arg_dir

    monkeypatch.setenv(DATA_DIR_ENV, str(env_dir))  # the real environment is the default
    assert load_config(path).daemon.data_dir == env_dir

    no_daemon = write(conf_dir, BASE.replace('[daemon]\ndata_dir = "state"\n', ""), "b.toml")
    assert load_config(no_daemon, environ={}).daemon.data_dir == conf_dir / "data"


def test_generated_hash_secret_is_persisted(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE), environ={})
    assert config.store.hash_secret is None
    first = ensure_hash_secret(config.store, config.daemon.data_dir)
    assert len(first) >= 32
    secret_file = config.daemon.data_dir / "hash_secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert ensure_hash_secret(config.store, config.daemon.data_dir) == first


def test_account_helpers(tmp_path: Path) -> None:
    text = BASE.replace(
        '["27600000000-27600000999"]', '["27600000000-27600000999", "2782*", "+27831234567"]'
    )
    account = load_config(write(tmp_path, text), environ={}).accounts[0]
    assert account.owns_source("27600000500") and account.owns_source("+27600000999")
    assert not account.owns_source("27600001000") and not account.owns_source("2760000050")
    assert account.owns_source("27821111111") and account.owns_source("27831234567")
    assert account.allows_ip("10.1.2.3") and account.allows_ip("::1")  # default: any
    assert account.effective_burst == 100


def test_local_config_loads() -> None:
    config = load_config(REPO / "configs" / "local.toml", environ={})
    assert config.daemon.data_dir == REPO / "data" / "local"
    assert (config.listeners[0].host, config.listeners[0].port) == ("127.0.0.1", 2775)
    assert (config.metrics.host, config.metrics.port) == ("127.0.0.1", 9775)
    assert config.store.backend == "sqlite"
    demo = config.account("demo")
    assert demo is not None and demo.owns_source("27600000001")
    assert demo.default_country == "ZA"
    assert config.simulator.enabled and config.simulator.port == 2776
    assert config.connectors[0].hosts[0].port == config.simulator.port
    assert "demopass" not in (REPO / "configs" / "local.toml").read_text().split("password_hash")[1]


def test_local_demo_numbers_are_valid_za_mobiles() -> None:
    number = phonenumbers.parse("+27600000001")
    assert phonenumbers.is_valid_number(number)
    assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE


#: The environment configs/production.example.toml reads.
PRODUCTION_ENV = {
    "SMPPCORE_HASH_SECRET": "0123456789abcdef0123456789abcdef",
    "SMPPCORE_OP_ZA_PASSWORD": "za1",
    "SMPPCORE_OP_ZA2_PASSWORD": "za2",
    "SMPPCORE_OP_NA_PASSWORD": "na",
    "SMPPCORE_OP_NA_OUTBIND_PASSWORD": "na-outbind",
}


def production_example(tmp_path: Path) -> Path:
    """configs/production.example.toml copied into ``tmp_path``, with the TLS files it names
    (a test CA's)."""
    shutil.copy(REPO / "configs" / "production.example.toml", tmp_path / "smppcore.toml")
    (tmp_path / "tls").mkdir()
    ca = trustme.CA()
    cert = ca.issue_cert("gateway.example")
    cert.private_key_pem.write_to_path(str(tmp_path / "tls" / "server.key"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "tls" / "server.crt"))
    ca.cert_pem.write_to_path(str(tmp_path / "tls" / "operator-za-ca.pem"))
    return tmp_path / "smppcore.toml"


def test_production_example_loads(tmp_path: Path) -> None:
    path = production_example(tmp_path)
    config = load_config(path, data_dir=tmp_path / "d", environ=PRODUCTION_ENV)
    assert config.store.backend == "redis"
    assert len(config.connectors) == 3 and len(config.accounts) == 2
    assert config.listeners[0].tls and config.listeners[0].tls_key == tmp_path / "tls/server.key"
    assert [c.password for c in config.connectors] == ["za1", "za2", "na"]
    assert [c.outbind_password for c in config.connectors] == [None, None, "na-outbind"]
    assert [a.receipt_err for a in config.accounts] == ["decimal", "hex"]
    assert [c.id_format for c in config.connectors] == [
        "hex_response_decimal_receipt", "decimal", "auto",
    ]  # fmt: skip
    when = datetime(2026, 7, 1, 12, 0)
    assert [when.replace(tzinfo=c.dlr_tzinfo).utcoffset() for c in config.connectors] == [
        timedelta(hours=2), timedelta(hours=2), timedelta(0),
    ]  # fmt: skip
    assert set(config.policy.keywords) == {"default", "NA"}
    assert os.fspath(config.daemon.data_dir) == os.fspath(tmp_path / "d")


def test_drain_timeout_defaults_to_10_seconds_and_must_be_positive(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, BASE), environ={}).daemon.drain_timeout == 10.0
    text = BASE.replace('data_dir = "state"\n', 'data_dir = "state"\ndrain_timeout = 2.5\n')
    assert load_config(write(tmp_path, text, "b.toml"), environ={}).daemon.drain_timeout == 2.5
    zero = BASE.replace('data_dir = "state"\n', 'data_dir = "state"\ndrain_timeout = 0\n')
    err = error_for(tmp_path, zero)
    assert err.key == "daemon.drain_timeout"


@pytest.mark.parametrize(
    ("lines", "key"),
    [
        ('outbind_listen = "127.0.0.1:2780"\n', "outbind_password"),
        ('outbind_password = "x"\n', "outbind_listen"),
        ('outbind_listen = "127.0.0.1:2780"\noutbind_password = "x"\n'
         'outbind_password_env = "Y"\n', "outbind_password"),
    ],
)  # fmt: skip
def test_outbind_settings_need_each_other(tmp_path: Path, lines: str, key: str) -> None:
    text = (REPO / "configs" / "local.toml").read_text()
    marker = 'type = "smpp"\n'
    assert marker in text
    path = tmp_path / "c.toml"
    path.write_text(text.replace(marker, marker + lines, 1))
    with pytest.raises(ConfigError) as info:
        load_config(path, data_dir=tmp_path / "d", environ={})
    assert key in str(info.value)


def test_receipt_err_is_decimal_unless_set(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, BASE), environ={}).accounts[0].receipt_err == "decimal"
    text = BASE.replace("source_numbers", 'receipt_err = "hex"\nsource_numbers')
    assert load_config(write(tmp_path, text), environ={}).accounts[0].receipt_err == "hex"
    octal = BASE.replace("source_numbers", 'receipt_err = "octal"\nsource_numbers')
    err = error_for(tmp_path, octal)
    assert err.key == "accounts[0].receipt_err"
    assert "must be one of 'decimal', 'hex'" in str(err)


@pytest.mark.parametrize(
    ("zone", "offset"),
    [("UTC", 0), ("Africa/Johannesburg", 120), ("+02:00", 120), ("-0530", -330),
     ("America/New_York", -240)],  # July: daylight saving time
)  # fmt: skip
def test_dlr_timezone_names_and_offsets(tmp_path: Path, zone: str, offset: int) -> None:
    text = BASE.replace('password = "simpass"', f'password = "simpass"\ndlr_timezone = "{zone}"')
    (connector,) = load_config(write(tmp_path, text), environ={}).connectors
    when = datetime(2026, 7, 1, 12, 0, tzinfo=connector.dlr_tzinfo)
    assert when.utcoffset() == timedelta(minutes=offset)


@pytest.mark.parametrize(
    ("line", "key", "what"),
    [
        ('dlr_timezone = "Mars/Base"', "dlr_timezone", "not a time zone name"),
        ('dlr_timezone = "+25:00"', "dlr_timezone", "at most 23:59"),
        ('dlr_timezone = ""', "dlr_timezone", "not a time zone name"),
        ('id_format = "octal"', "id_format", "must be one of 'auto', 'decimal', 'hex'"),
    ],
)
def test_bad_connector_receipt_conventions(tmp_path: Path, line: str, key: str, what: str) -> None:
    err = error_for(tmp_path, BASE.replace('password = "simpass"', f'password = "simpass"\n{line}'))
    assert err.key == f"connectors[0].{key}"
    assert what in str(err)
