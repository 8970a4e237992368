"""Log scrubbing: numbers masked and content dropped, whoever logged it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smppcore.logs import REDACTED, configure_logging, get_logger, mask_numbers

NUMBERS = ("27600000001", "447700900123", "27821234567")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    configure_logging("json", "debug", stream=buf)
    yield buf
    configure_logging("console", "warning")


def records(buf: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def assert_no_clear_numbers(text: str) -> None:
    for number in NUMBERS:
        assert number not in text


def test_mask_numbers_keeps_prefix_and_last_two_digits() -> None:
    assert mask_numbers("+27600000001") == "+27*******01"
    assert mask_numbers("to 447700900123, from 27821234567.") == (
        "to 44********23, from 27*******67."
    )
    assert mask_numbers("seq 1234567 and 1234567890123456") == "seq 1234567 and 1234567890123456"


def test_structlog_event_values_are_masked(json_lines: io.StringIO) -> None:
    log = get_logger("smppcore.test")
    log.info(
        "submit from +27600000001",
        destination="447700900123",
        nested={"to": ["27821234567"], "meta": ("x", {"deep": "+447700900123"})},
        as_int=27821234567,
        account="demo",
        window=10,
    )
    text = json_lines.getvalue()
    assert_no_clear_numbers(text)
    (record,) = records(json_lines)
    assert record["event"] == "submit from +27*******01"
    assert record["destination"] == "44********23"
    assert record["nested"] == {"to": ["27*******67"], "meta": ["x", {"deep": "+44********23"}]}
    assert record["as_int"] == "27*******67"
    assert (record["account"], record["window"]) == ("demo", 10)


def test_content_and_secret_keys_are_redacted(json_lines: io.StringIO) -> None:
    log = get_logger("smppcore.test")
    log.warning(
        "bind",
        short_message="my secret text",
        text="hello",
        message_payload=b"\x00\x01",
        body="b",
        password="pw",
        password_hash="scrypt$...",
        secret="s",
        operator_password="op",
        extra={"text": "nested text"},
    )
    text = json_lines.getvalue()
    for clear in ("my secret text", "hello", "nested text", "scrypt$", '"pw"', '"op"'):
        assert clear not in text
    (record,) = records(json_lines)
    for key in ("short_message", "text", "message_payload", "body", "password", "password_hash",
                "secret", "operator_password"):  # fmt: skip
        assert record[key] == REDACTED
    assert record["extra"] == {"text": REDACTED}


def test_stdlib_logging_is_scrubbed_too(json_lines: io.StringIO) -> None:
    logging.getLogger("some.library").warning("retrying %s for %s", "27821234567", "job")
    try:
        raise ValueError("bad number 447700900123")
    except ValueError:
        logging.getLogger("some.library").exception("failed")
    assert_no_clear_numbers(json_lines.getvalue())
    first, second = records(json_lines)
    assert first["event"] == "retrying 27*******67 for job"
    assert first["logger"] == "some.library"
    assert "ValueError: bad number 44********23" in str(second["exception"])


def test_exceptions_from_structlog_are_scrubbed(json_lines: io.StringIO) -> None:
    try:
        raise RuntimeError("cannot route 27600000001")
    except RuntimeError:
        get_logger("smppcore.test").exception("routing failed")
    assert_no_clear_numbers(json_lines.getvalue())
    assert "27*******01" in json_lines.getvalue()


def test_level_filter_and_console_format() -> None:
    buf = io.StringIO()
    configure_logging("console", "info", stream=buf)
    try:
        log = get_logger("smppcore.test")
        log.debug("invisible", destination="27600000001")
        log.info("visible", destination="27600000001", text="hi")
        logging.getLogger("lib").debug("also invisible")
    finally:
        configure_logging("console", "warning")
    out = buf.getvalue()
    assert "invisible" not in out
    assert "visible" in out and "27*******01" in out and REDACTED in out
    assert "27600000001" not in out and "text=hi" not in out
    assert not out.lstrip().startswith("{")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="format"):
        configure_logging("xml", "info")
    with pytest.raises(ValueError, match="level"):
        configure_logging("json", "loud")


@settings(max_examples=300, deadline=None)
@given(
    number=st.from_regex(r"\+?[1-9][0-9]{7,14}", fullmatch=True),
    before=st.text(alphabet="abc :=,;-()[]", max_size=5),
    after=st.text(alphabet="abc :=,;-()[]", max_size=5),
)
def test_no_msisdn_survives_masking(number: str, before: str, after: str) -> None:
    masked = mask_numbers(before + number + after)
    digits = number.lstrip("+")
    assert digits not in masked
    assert (
        masked
        == before
        + number[: len(number) - len(digits) + 2]
        + "*" * (len(digits) - 4)
        + digits[-2:]
        + after
    )


def test_node_id_is_on_every_line_structlog_and_stdlib() -> None:
    buf = io.StringIO()
    configure_logging("json", "info", stream=buf, node_id="gw-2")
    try:
        get_logger("smppcore.test").info("connector.bound", bind="0")
        logging.getLogger("some.library").warning("from the standard library")
    finally:
        configure_logging("console", "warning")
    lines = records(buf)
    assert [line["node"] for line in lines] == ["gw-2", "gw-2"]
