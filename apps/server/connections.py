"""The server's connections: binding, read timeouts, a connection limit, lingering close, shutdown.

``mmrnn serve`` runs uvicorn's h11 protocol with these guards (:func:`guarded_protocol`):

* **header timeout**: a connection must send a complete request line and headers within
  ``header_timeout_s`` of opening (or of the first byte of its next keep-alive request); else it
  gets 408 ``{"error": ...}`` and is closed;
* **body timeout**: the whole body must arrive within ``body_timeout_s`` of the headers; else 408
  and closed (the app's read of the body ends as a client disconnect);
* **malformed HTTP** (or a request line and headers over :data:`MAX_HEADER_BYTES`): 400 JSON, closed;
* **connection limit**: a connection beyond ``max_connections`` open ones gets 503 at once and is
  closed;
* **lingering close**: a connection the server closes is half-closed first and its unread input
  discarded for up to ``linger_s`` seconds, so the client reads the response (an error answered
  before the whole body was read) instead of a connection reset.

Idle keep-alive connections are closed by uvicorn after its ``timeout_keep_alive`` (5 s).
:func:`bind_sockets` binds the listening sockets before the models load, so that a port in use or a
bad host is one :class:`~multimodal_rnn.errors.InputError` line; :func:`run_server` serves on them
and, on SIGTERM/SIGINT, stops accepting, answers 503 to requests whose body is still arriving,
gives the others ``shutdown_timeout_s`` seconds, then cancels them and returns.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import socket
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from multimodal_rnn.errors import InputError

LOG = logging.getLogger("uvicorn.error")
MAX_HEADER_BYTES = 64 * 1024
"""Largest request line plus headers, bytes (more: 400 and closed)."""


@dataclass(frozen=True)
class ConnectionLimits:
    """Per-connection guards (see the module docstring); times in seconds."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    max_connections: int = 64
    linger_s: float = 2.0


class _LingeringTransport:
    """A transport whose ``close`` half-closes, discards what the client still sends, then closes."""

    def __init__(self, transport: asyncio.Transport, linger_s: float) -> None:
        self._transport = transport
        self._linger_s = linger_s
        self._timer: asyncio.TimerHandle | None = None
        self.lingering = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        if self.is_closing():
            return
        self.lingering = True
        if not self._transport.can_write_eof():
            self._transport.close()
            return
        self._transport.write_eof()  # after the buffered response
        self._transport.resume_reading()
        self._timer = asyncio.get_running_loop().call_later(self._linger_s, self._transport.close)

    def closed(self) -> None:
        """The connection is gone: stop the linger timer."""
        if self._timer is not None:
            self._timer.cancel()


def _raw_response(status: int, reason: str, message: str) -> bytes:
    body = json.dumps({"error": message}).encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def guarded_protocol(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with the guards of ``limits`` (pass it as uvicorn's ``http``)."""

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self.lingering = _LingeringTransport(transport, limits.linger_s)
            self._read_timer: asyncio.TimerHandle | None = None
            self._waiting_for = "headers"
            super().connection_made(self.lingering)  # type: ignore[arg-type]
            if len(self.connections) > limits.max_connections:
                self.connections.discard(self)
                self._refuse(
                    503,
                    "Service Unavailable",
                    f"too many connections (the limit is {limits.max_connections}); retry later",
                )
                return
            self._arm("headers", limits.header_timeout_s)

        def data_received(self, data: bytes) -> None:
            if self.lingering.lingering:
                return  # discarded: the response is out and the connection closing
            super().data_received(data)
            self._follow_request()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            self.lingering.closed()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            self._disarm()  # a response out (maybe before the whole body): no read timeout now
            super().on_response_complete()

        def send_400_response(self, msg: str) -> None:  # uvicorn's answer to unparsable HTTP, as JSON
            self._refuse(
                400, "Bad Request", f"invalid HTTP request (malformed, or headers over {MAX_HEADER_BYTES} bytes)"
            )

        def _follow_request(self) -> None:
            """Arm the timeout of what the connection is waiting for: headers, body or nothing."""
            if self.transport.is_closing():
                self._disarm()
            elif self.conn.their_state is h11.SEND_BODY and self.cycle is not None and not self.cycle.response_started:
                if self._read_timer is None or self._waiting_for != "body":
                    self._arm("body", limits.body_timeout_s)
            elif self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
                if self._read_timer is None:
                    self._arm("headers", limits.header_timeout_s)
            elif self.conn.their_state is not h11.IDLE:
                self._disarm()

        def _arm(self, what: str, seconds: float) -> None:
            self._disarm()
            self._waiting_for = what
            self._read_timer = self.loop.call_later(seconds, self._timed_out, what, seconds)

        def _disarm(self) -> None:
            if self._read_timer is not None:
                self._read_timer.cancel()
                self._read_timer = None

        def _timed_out(self, what: str, seconds: float) -> None:
            self._read_timer = None
            if self.transport.is_closing():
                return
            LOG.warning("%s: request %s not received within %g s; closing", self._peer(), what, seconds)
            if what == "body" and self.cycle is not None:
                if self.cycle.response_started:
                    self.transport.close()
                    return
                self._drop_request()
            self._refuse(408, "Request Timeout", f"request {what} not received within {seconds:g} s")

        def shutdown(self) -> None:
            """Server shutdown: a request whose body is still arriving gets 503 now, not after the grace time."""
            if self.conn.their_state is h11.SEND_BODY and self.cycle is not None and not self.cycle.response_started:
                self._drop_request()
                self._refuse(503, "Service Unavailable", "the server is shutting down")
                return
            super().shutdown()

        def _drop_request(self) -> None:
            """The app's next read of the body is a disconnect, and nothing it answers is sent."""
            assert self.cycle is not None
            self.cycle.response_started = True
            self.cycle.disconnected = True
            self.cycle.message_event.set()

        def _refuse(self, status: int, reason: str, message: str) -> None:
            self.transport.write(_raw_response(status, reason, message))
            self.transport.close()

        def _peer(self) -> str:
            return f"{self.client[0]}:{self.client[1]}" if self.client else "client"

    return GuardedH11Protocol


def bind_sockets(host: str, port: int) -> list[socket.socket]:
    """Listening TCP sockets on every address of ``host`` (one port for all of them).

    Raises:
        InputError: ``<host>:<port>: <problem>`` for a host that does not resolve, an address not
            on this machine, a port in use or one that needs privileges.
    """
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise InputError(f"{where}: cannot resolve the host ({getattr(exc, 'strerror', None) or exc})") from None
    addresses = list(dict.fromkeys((family, address) for family, _, _, _, address in infos))
    sockets: list[socket.socket] = []
    try:
        for family, address in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and len(addresses) > 1:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            bound_port = sockets[0].getsockname()[1] if len(sockets) > 1 else port
            sock.bind((address[0], bound_port, *address[2:]))
            sock.listen(2048)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise InputError(f"{where}: {_bind_problem(exc, port)}") from None
    return sockets


def _bind_problem(exc: OSError, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "address already in use (another server on this port? choose another --port)"
    if exc.errno == errno.EACCES:
        return "permission denied" + (" (ports below 1024 need privileges)" if 0 < port < 1024 else "")
    if exc.errno == errno.EADDRNOTAVAIL:
        return "address not available (not an address of this machine)"
    return exc.strerror or str(exc)


def make_server(
    app: Any,
    *,
    limits: ConnectionLimits = ConnectionLimits(),
    shutdown_timeout_s: float = 30.0,
    log_level: str = "info",
) -> uvicorn.Server:
    """A uvicorn server of ``app`` with the guards of ``limits``; run it on :func:`bind_sockets`'s sockets
    (``server.run(sockets=...)``); setting ``server.should_exit`` stops it as SIGTERM does."""
    config = uvicorn.Config(
        app,
        http=guarded_protocol(limits),
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=shutdown_timeout_s,  # type: ignore[arg-type]
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )
    return uvicorn.Server(config)


def run_server(
    app: Any,
    sockets: list[socket.socket],
    *,
    limits: ConnectionLimits = ConnectionLimits(),
    shutdown_timeout_s: float = 30.0,
    log_level: str = "info",
) -> None:
    """Serve ``app`` on ``sockets`` (from :func:`bind_sockets`) until SIGTERM/SIGINT."""
    server = make_server(app, limits=limits, shutdown_timeout_s=shutdown_timeout_s, log_level=log_level)
    for sock in sockets:
        host, port = sock.getsockname()[:2]
        LOG.info(
            "Uvicorn running on %s (Press CTRL+C to quit)",
            f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}",
        )
    server.run(sockets=sockets)
