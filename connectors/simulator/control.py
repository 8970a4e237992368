"""The simulator's HTTP control interface (loopback, JSON, one request per connection).

Owns: :func:`serve_control` and the minimal HTTP/1.1 parsing it needs.  Routes:

* ``GET /stats`` — the :class:`~connectors.simulator.stats.SimulatorStats` snapshot;
* ``GET /faults`` — the current fault switches; ``POST /faults`` with a JSON object of
  switches to change (see :mod:`connectors.simulator.faults`), answers the new settings;
* ``POST /mo`` with ``{"from": ..., "to": ..., "text": ...}`` (optional ``system_id``,
  ``from_ton``, ``from_npi``, ``to_ton``, ``to_npi``) — inject a handset reply; answers
  ``202`` with the number of parts;
* ``GET /messages?to=<number>`` — what was received for that destination, oldest first:
  ``{"to": ..., "messages": [...]}``, each message as
  :meth:`~connectors.simulator.stats.ReceivedMessage.as_json` (body as hex, concatenation
  info, decoded text, monotonic ``received_at``). A test and demo aid.

Requests are bounded (header 16 KiB, body 64 KiB, 10 s to arrive); every response closes
the connection.  Request bodies, query strings and responses (numbers, text) are never
logged.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs

import structlog
import trio

from .faults import FaultError

if TYPE_CHECKING:
    from .smsc import Simulator

__all__ = ["serve_control"]

log = structlog.get_logger(__name__)

_MAX_HEADER: Final = 16 * 1024
_MAX_BODY: Final = 64 * 1024
_REQUEST_TIMEOUT: Final = 10.0
_REASONS: Final = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    503: "Service Unavailable",
}


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def serve_control(
    sim: Simulator,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the control interface on ``host:port`` (0: any free port) until cancelled;
    ``task_status.started`` receives the bound port."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = int(listeners[0].socket.getsockname()[1])

    async def handle(stream: trio.SocketStream) -> None:
        try:
            await _handle(sim, stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            await trio.aclose_forcefully(stream)

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, handle, listeners)
        task_status.started(bound)


async def _handle(sim: Simulator, stream: trio.SocketStream) -> None:
    try:
        with trio.fail_after(_REQUEST_TIMEOUT):
            method, path, query, body = await _read_request(stream)
        status, payload = _route(sim, method, path, query, body)
    except _HttpError as exc:
        status, payload = exc.status, {"error": str(exc)}
    except trio.TooSlowError:
        status, payload = 408, {"error": "request timeout"}
    data = json.dumps(payload, sort_keys=True).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")
    await stream.send_all(head + data)


async def _read_request(stream: trio.SocketStream) -> tuple[str, str, str, bytes]:
    buffer = bytearray()
    while b"\r\n\r\n" not in buffer:
        if len(buffer) > _MAX_HEADER:
            raise _HttpError(413, "header too large")
        chunk = await stream.receive_some(4096)
        if not chunk:
            raise _HttpError(400, "incomplete request")
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _HttpError(400, "bad request line")
    method, target = parts[0].upper(), parts[1]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise _HttpError(400, "bad header line")
        headers[name.strip().lower()] = value.strip()
    if "transfer-encoding" in headers:
        raise _HttpError(400, "chunked bodies are not supported; send Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise _HttpError(400, "bad Content-Length") from None
    if length < 0 or length > _MAX_BODY:
        raise _HttpError(413, "body too large")
    body = bytearray(rest)
    while len(body) < length:
        chunk = await stream.receive_some(length - len(body))
        if not chunk:
            raise _HttpError(400, "incomplete body")
        body += chunk
    path, _, query = target.partition("?")
    return method, path, query, bytes(body[:length])


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise _HttpError(400, "body is not JSON") from None
    if not isinstance(value, dict):
        raise _HttpError(400, "body must be a JSON object")
    return value


def _route(sim: Simulator, method: str, path: str, query: str, body: bytes) -> tuple[int, Any]:
    if path == "/stats":
        if method != "GET":
            raise _HttpError(405, "use GET")
        return 200, sim.stats().as_json()
    if path == "/faults":
        if method == "GET":
            return 200, sim.faults.as_dict()
        if method != "POST":
            raise _HttpError(405, "use GET or POST")
        try:
            return 200, sim.set_faults(**_json_object(body)).as_dict()
        except FaultError as exc:
            raise _HttpError(400, str(exc)) from None
    if path == "/mo":
        if method != "POST":
            raise _HttpError(405, "use POST")
        return _inject(sim, _json_object(body))
    if path == "/messages":
        if method != "GET":
            raise _HttpError(405, "use GET")
        return _messages(sim, query)
    raise _HttpError(
        404, "unknown path (GET /stats, GET|POST /faults, POST /mo, GET /messages?to=)"
    )


def _messages(sim: Simulator, query: str) -> tuple[int, Any]:
    try:
        values = parse_qs(query, strict_parsing=False, max_num_fields=8).get("to", [])
    except ValueError:
        raise _HttpError(400, "bad query string") from None
    if len(values) != 1 or not values[0]:
        raise _HttpError(400, "need exactly one non-empty ?to=<number>")
    to = values[0]
    if to.startswith(" "):  # an unencoded "+" of an international number reads as a space
        to = "+" + to[1:]
    return 200, {"to": to, "messages": [m.as_json() for m in sim.messages(to)]}


def _inject(sim: Simulator, request: dict[str, Any]) -> tuple[int, Any]:
    from .smsc import QueueFull

    source, destination, text = request.get("from"), request.get("to"), request.get("text")
    if not (isinstance(source, str) and isinstance(destination, str) and isinstance(text, str)):
        raise _HttpError(400, 'need string fields "from", "to" and "text"')
    if not source or not destination:
        raise _HttpError(400, '"from" and "to" must not be empty')
    system_id = request.get("system_id")
    if system_id is not None and not isinstance(system_id, str):
        raise _HttpError(400, '"system_id" must be a string')
    numbers: dict[str, int] = {}
    for key, arg in (
        ("from_ton", "source_ton"),
        ("from_npi", "source_npi"),
        ("to_ton", "dest_ton"),
        ("to_npi", "dest_npi"),
    ):
        value = request.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
            raise _HttpError(400, f'"{key}" must be an integer 0-255')
        numbers[arg] = value
    try:
        parts = sim.inject_mo(source, destination, text, system_id=system_id, **numbers)
    except QueueFull as exc:
        raise _HttpError(503, str(exc)) from None
    except ValueError as exc:  # e.g. a text too long for 255 parts
        raise _HttpError(400, str(exc)) from None
    return 202, {"queued": True, "parts": parts}
