"""``mmrnn serve``'s connections on a real uvicorn server (loopback, a free port, tiny timeouts):
stalled headers and bodies are answered 408 and closed, the connection limit answers 503, bind
errors are one line, shutdown ends with a request stalled, and a mix of bad requests sent from
many threads is always answered."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from apps.cli import build_parser, main
from apps.commands.serve import token_of
from apps.server.app import ServerSettings, create_app
from apps.server.connections import ConnectionLimits, bind_sockets, make_server
from apps.server.inference import LoadedModel
from multimodal_rnn.errors import InputError
from multimodal_rnn.tasks.caption.predictor import CaptionResult

FAST = ConnectionLimits(header_timeout_s=0.5, body_timeout_s=0.5, max_connections=50, linger_s=0.5)
MAX_UPLOAD = 50_000


class FakeCaptioner:
    """A stand-in predictor: every image gets "a fake caption" (after ``delay`` seconds)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.model = SimpleNamespace(attends=False)
        self.delay = delay

    def transform(self, image):
        return torch.zeros(3, 8, 8)

    def caption_tensors(self, pixels, **_):
        time.sleep(self.delay)
        return [CaptionResult("a fake caption", ("a", "fake", "caption"), -1.0) for _ in pixels]


class Served:
    """The app of a :class:`FakeCaptioner` on a real server in a thread; ``port`` is its port."""

    def __init__(self, limits: ConnectionLimits = FAST, delay: float = 0.0, shutdown_timeout_s: float = 30.0) -> None:
        model = LoadedModel("caption", Path("fake.safetensors"), FakeCaptioner(delay), {"file": "fake.safetensors"})
        app = create_app({"caption": model}, ServerSettings(max_upload_bytes=MAX_UPLOAD))
        self.sockets = bind_sockets("127.0.0.1", 0)
        self.port = self.sockets[0].getsockname()[1]
        self.server = make_server(app, limits=limits, shutdown_timeout_s=shutdown_timeout_s, log_level="critical")
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": self.sockets}, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *_) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (socket timeout: 10 s)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _png(width: int = 8, height: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def _multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += b"--xx\r\nContent-Disposition: " + disposition.encode() + b"\r\n\r\n" + data + b"\r\n"
    return body + b"--xx--\r\n", "multipart/form-data; boundary=xx"


def _request(port: int, body: bytes, content_type: str, *, length: int | None = None) -> bytes:
    return (
        f"POST /v1/caption HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\nConnection: close\r\n\r\n"
    ).encode() + body


@pytest.fixture(scope="module")
def served():
    with Served() as server:
        yield server


@pytest.mark.parametrize("sent", [b"", b"POST /v1/caption HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le"])
def test_stalled_headers_get_408_and_the_connection_closes(served, sent):
    with served.connect() as sock:
        sock.sendall(sent)
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 ") and b'"request headers not received within 0.5 s"' in answer


def test_a_stalled_second_request_on_a_keep_alive_connection_gets_408(served):
    with served.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = b""
        while not first.endswith(b"}"):  # the whole JSON answer
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 12")  # stops the keep-alive timer of uvicorn
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 ") and b"request headers not received" in answer


def test_a_stalled_body_gets_408_and_the_connection_closes(served):
    body, content_type = _multipart([("image", "a.png", _png())])
    with served.connect() as sock:
        sock.sendall(_request(served.port, body[: len(body) // 2], content_type, length=len(body)))
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 ") and b'"request body not received within 0.5 s"' in answer
    with served.connect() as sock:  # and the server goes on
        sock.sendall(_request(served.port, body, content_type))
        assert b'"a fake caption"' in _read_all(sock)


@pytest.mark.parametrize(
    "sent",
    [
        b"POST /v1/caption HTTP/1.1\r\nBad Header Line\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 70_000,
    ],
)
def test_malformed_or_oversized_headers_get_a_json_400(served, sent):
    with served.connect() as sock:
        sock.sendall(sent)
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 400 ") and b'{"error": "invalid HTTP request (malformed' in answer


def test_connections_beyond_the_limit_get_503():
    limits = ConnectionLimits(header_timeout_s=5, max_connections=2, linger_s=0.5)
    with Served(limits) as server:
        idle = [server.connect(), server.connect()]
        time.sleep(0.2)  # let the server accept them
        try:
            with server.connect() as third:
                answer = _read_all(third)
            assert answer.startswith(b"HTTP/1.1 503 ") and b"too many connections (the limit is 2)" in answer
        finally:
            for sock in idle:
                sock.close()


def test_shutdown_answers_a_stalled_upload_503_and_ends_despite_a_slow_request():
    limits = ConnectionLimits(header_timeout_s=30, body_timeout_s=30, linger_s=0.5)
    body, content_type = _multipart([("image", "a.png", _png())])
    with Served(limits, delay=2.0, shutdown_timeout_s=0.5) as server:
        stalled, slow = server.connect(), server.connect()
        stalled.sendall(_request(server.port, body[:10], content_type, length=len(body)))
        slow.sendall(_request(server.port, body, content_type))
        time.sleep(0.3)
        server.server.should_exit = True  # what SIGTERM sets
        server.thread.join(20)
        assert not server.thread.is_alive()
        assert _read_all(stalled).startswith(b"HTTP/1.1 503 ")  # its body would never have come
        stalled.close()
        slow.close()


def test_bind_errors_are_one_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InputError, match=rf"^127.0.0.1:{port}: address already in use"):
            bind_sockets("127.0.0.1", port)
        assert main(["serve", "--tasks", "caption", "--port", str(port)]) == 2
    assert capsys.readouterr().err.startswith(f"mmrnn: error: 127.0.0.1:{port}: address already in use")
    with pytest.raises(InputError, match=r"^no-such-host\.invalid:80: cannot resolve the host"):
        bind_sockets("no-such-host.invalid", 80)


def test_a_non_loopback_host_needs_a_token_or_the_explicit_option(capsys, monkeypatch):
    monkeypatch.delenv("MMRNN_TOKEN", raising=False)
    assert main(["serve", "--tasks", "caption", "--host", "0.0.0.0"]) == 2
    assert "other machines could reach the server without a token" in capsys.readouterr().err
    parse = build_parser().parse_args
    assert token_of(parse(["serve", "--host", "0.0.0.0", "--allow-unauthenticated"])) is None
    assert token_of(parse(["serve", "--host", "0.0.0.0", "--token", "abc"])) == "abc"
    monkeypatch.setenv("MMRNN_TOKEN", "from-env")
    assert token_of(parse(["serve", "--host", "0.0.0.0"])) == "from-env"
    assert token_of(parse(["serve", "--token", "given"])) == "given"
    monkeypatch.setenv("MMRNN_TOKEN", " ")
    with pytest.raises(InputError, match="empty token"):
        token_of(parse(["serve"]))


def test_a_mix_of_bad_requests_from_many_threads_is_always_answered(served):
    png = _png()
    cases = {
        "ok": (_multipart([("image", "a.png", png)]), 200),
        "body over the limit": (_multipart([("image", "a.png", png + bytes(4 * MAX_UPLOAD))]), 413),
        "not an image": (_multipart([("image", "a.png", b"hello" * 20)]), 415),
        "truncated": (_multipart([("image", "a.png", png[:30])]), 400),
        "no image": (_multipart([("beam_size", None, b"3")]), 422),
        "bad field": (_multipart([("image", "a.png", png), ("beam_size", None, b"999")]), 422),
    }
    answers: Counter = Counter()

    def send(kind: str) -> None:
        (body, content_type), _ = cases[kind]
        with served.connect() as sock:
            try:
                sock.sendall(_request(served.port, body, content_type))
            except OSError:
                pass  # the server may answer (and half-close) before the body is all sent
            head = _read_all(sock)[:12]
        answers[kind, head.decode("ascii", "replace")] += 1

    def worker(offset: int) -> None:
        for i in range(12):
            send(list(cases)[(offset + i) % len(cases)])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    expected = {(kind, f"HTTP/1.1 {status}"): 20 for kind, (_, status) in cases.items()}
    assert dict(answers) == expected
