"""``mmrnn serve``'s app at its boundary: the Host allow-list, the bearer token, the status codes of
the README, and work that a timed-out request no longer causes (queued decodes and model calls)."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

import apps.server.app as server_app
from apps.server.access import allowed_hosts, header_host, is_loopback
from apps.server.app import ServerSettings, create_app
from apps.server.inference import LoadedModel
from multimodal_rnn.tasks.caption.predictor import CaptionResult


class CountingCaptioner:
    """A stand-in predictor that counts the images it captions; each call sleeps ``delay`` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.model = SimpleNamespace(attends=False)
        self.delay = delay
        self.captioned = 0

    def transform(self, image):
        return torch.zeros(3, 8, 8)

    def caption_tensors(self, pixels, **_):
        time.sleep(self.delay)
        self.captioned += len(pixels)
        return [CaptionResult("a fake caption", ("a", "fake", "caption"), -1.0) for _ in pixels]


def _app(predictor=None, **settings):
    model = LoadedModel("caption", Path("fake.safetensors"), predictor or CountingCaptioner(), {"file": "fake"})
    return create_app({"caption": model}, ServerSettings(**settings))


def _png(width: int = 8, height: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def _caption(client: TestClient, image: bytes | None = None, **kwargs):
    return client.post("/v1/caption", files={"image": ("a.png", image or _png(), "image/png")}, **kwargs)


@pytest.mark.parametrize(
    "value,host",
    [
        ("localhost:8000", "localhost"),
        ("[::1]:80", "[::1]"),
        ("::1", "[::1]"),
        ("Example.COM.", "example.com"),
        ("127.0.0.1", "127.0.0.1"),
    ],
)
def test_header_host(value, host):
    assert header_host(value) == host


def test_the_allow_list_has_loopback_the_bound_host_and_the_extra_ones():
    assert allowed_hosts("127.0.0.1") == ("localhost", "127.0.0.1", "[::1]")
    assert allowed_hosts("0.0.0.0", ["My.Host"]) == ("localhost", "127.0.0.1", "[::1]", "my.host")
    assert allowed_hosts("192.168.1.5") == ("localhost", "127.0.0.1", "[::1]", "192.168.1.5")
    assert [is_loopback(h) for h in ("127.0.0.2", "::1", "localhost", "0.0.0.0", "10.0.0.1")] == [True] * 3 + [
        False
    ] * 2


def test_other_hosts_get_421_and_allowed_ones_are_served():
    with TestClient(
        _app(allowed_hosts=allowed_hosts("0.0.0.0", ["box.lan"])), base_url="http://box.lan:8000"
    ) as client:
        assert _caption(client).status_code == 200
        for host in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
            assert client.get("/healthz", headers={"host": host}).status_code == 200
        refused = client.get("/healthz", headers={"host": "evil.example:8000"})
        assert refused.status_code == 421
        assert refused.json()["error"].startswith("host 'evil.example' is not served here (allowed: 127.0.0.1, [::1]")
        assert client.get("/", headers={"host": "evil.example"}).status_code == 421
    with TestClient(_app(allowed_hosts=("*",)), base_url="http://anything.example") as client:
        assert client.get("/healthz").status_code == 200


def test_with_a_token_the_api_needs_it_and_the_page_does_not():
    with TestClient(_app(token="s3cret"), base_url="http://127.0.0.1") as client:
        assert client.get("/").status_code == 200 and client.get("/static/app.js").status_code == 200
        for headers in (
            {},
            {"authorization": "Bearer wrong"},
            {"authorization": "Basic s3cret"},
            {"authorization": "Bearer s3cre"},
        ):
            refused = client.get("/v1/models", headers=headers)
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
            assert "Authorization: Bearer <token>" in refused.json()["error"]
            assert _caption(client, headers=headers).status_code == 401
        good = {"authorization": "Bearer s3cret"}
        assert client.get("/v1/models", headers=good).status_code == 200
        assert client.get("/healthz", headers=good).status_code == 200
        assert _caption(client, headers=good).json()["caption"] == "a fake caption"


def test_status_codes_of_the_readme():
    with TestClient(_app(max_field_bytes=1000), base_url="http://127.0.0.1") as client:
        big_field = _caption(client, data={"beam_size": "1" * 2000})
        assert big_field.status_code == 413
        assert big_field.json() == {"error": "a form field is over the limit of 1000 bytes"}
        truncated = _caption(client, _png()[:30])
        assert truncated.status_code == 400 and "truncated or corrupt" in truncated.json()["error"]
        assert _caption(client, b"just some text, not an image").status_code == 415
        assert _caption(client, data={"beam_size": "0"}).status_code == 422
        malformed = client.post(
            "/v1/caption", content=b"--x\r\nnonsense", headers={"content-type": "multipart/form-data"}
        )
        assert malformed.status_code == 400 and malformed.json()["error"].startswith("malformed form")


def test_a_timed_out_queued_request_is_not_run():
    predictor = CountingCaptioner(delay=1.0)
    with TestClient(_app(predictor, request_timeout_s=0.3), base_url="http://127.0.0.1") as client:
        statuses: list[int] = []

        def call() -> None:
            statuses.append(_caption(client).status_code)

        first = threading.Thread(target=call)
        first.start()
        time.sleep(0.1)  # the first request's model call has started; the second queues behind it
        call()
        first.join(10)
        time.sleep(1.2)  # the first call ends; a queued second one would run now
        assert statuses == [504, 504] and predictor.captioned == 1


def test_at_most_max_decodes_images_decode_at_once_even_after_timeouts(monkeypatch):
    running, peak, decoded = 0, 0, 0
    lock = threading.Lock()
    decode = server_app.decode_image

    def slow_decode(*args, **kwargs):
        nonlocal running, peak, decoded
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.3)
        with lock:
            running -= 1
            decoded += 1
        return decode(*args, **kwargs)

    monkeypatch.setattr(server_app, "decode_image", slow_decode)
    big = _png(300, 300)  # over INLINE_DECODE_PIXELS: decoded in a thread
    with TestClient(_app(request_timeout_s=0.2, max_decodes=2), base_url="http://127.0.0.1") as client:
        threads = [threading.Thread(target=_caption, args=(client, big)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        time.sleep(0.5)
    assert peak <= 2 and decoded < 8  # requests that timed out while queued for a decoder were not decoded
