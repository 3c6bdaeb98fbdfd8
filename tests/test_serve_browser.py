"""End to end: a real ``mmrnn serve`` server (uvicorn on a free loopback port) and a headless
Chromium (Debian's ``chromium`` package, driven by Playwright) that uploads an image on the web page
and reads the caption from it. ``.ci/run`` installs Chromium; without it this test fails."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from apps.server.app import ServerSettings, create_app
from apps.server.inference import load_models
from multimodal_rnn.images import load_image
from multimodal_rnn.shipped import resolve_weights
from multimodal_rnn.tasks import TASKS

CHROMIUM = os.environ.get("MMRNN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IMAGE = Path(__file__).resolve().parent.parent / "data" / "samples" / "shapes_test_1.png"


def shipped_weights(task: str) -> Path:
    """The shipped checkpoint of ``task``, as the commands find it."""
    return resolve_weights(None, TASKS[task].shipped, task=task)


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self, app) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()


def test_page_captions_an_uploaded_image(tmp_path):
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium; .ci/run does) "
                    "or point MMRNN_CHROMIUM at a Chromium binary")
    from playwright.sync_api import sync_playwright

    models = load_models({"caption": shipped_weights("caption")})
    expected = models["caption"].predictor.caption([load_image(IMAGE)], beam_size=3)[0]
    with ServerThread(create_app(models, ServerSettings())) as server, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"http://127.0.0.1:{server.port}/", timeout=20_000)
            page.set_input_files("#file", str(IMAGE))
            page.wait_for_selector("#caption.done", timeout=20_000)
            assert page.inner_text("#caption") == expected.caption
            words = page.locator("#words .word")
            assert words.count() == len(expected.words)
            assert words.nth(1).inner_text() == expected.words[1]
            words.nth(1).click()  # the word's attention map on the big canvas
            assert page.inner_text("#view-label") == f"attention for “{expected.words[1]}”"
            assert page.inner_text("#status") == "" and errors == []
            screenshot = os.environ.get("MMRNN_SCREENSHOT")
            if screenshot:
                page.screenshot(path=screenshot, full_page=True)
        finally:
            context.close()


def test_page_asks_for_the_token_of_a_server_that_needs_one(tmp_path):
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium or point MMRNN_CHROMIUM at a Chromium binary")
    from playwright.sync_api import sync_playwright

    models = load_models({"caption": shipped_weights("caption")})
    expected = models["caption"].predictor.caption([load_image(IMAGE)], beam_size=3)[0]
    with ServerThread(create_app(models, ServerSettings(token="s3cret"))) as server, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{server.port}/", timeout=20_000)
            page.wait_for_selector("#token", state="visible", timeout=20_000)
            assert page.inner_text("#models") == "token needed"
            page.fill("#token", "s3cret")
            page.click("#token-form button")
            page.wait_for_selector("#token", state="hidden", timeout=20_000)
            page.set_input_files("#file", str(IMAGE))
            page.wait_for_selector("#caption.done", timeout=20_000)
            assert page.inner_text("#caption") == expected.caption
        finally:
            context.close()


def test_page_shows_the_gif_of_an_uploaded_video(tmp_path):
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium or point MMRNN_CHROMIUM at a Chromium binary")
    from playwright.sync_api import sync_playwright

    from tests.fake_video_task import LIGHT, dark_then_bright, light_model

    clip = dark_then_bright(tmp_path / "clip.mp4")
    app = create_app(light_model(), ServerSettings(), tasks={"light": LIGHT})
    with ServerThread(app) as server, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"http://127.0.0.1:{server.port}/", timeout=20_000)
            page.wait_for_selector("#video-panel", state="visible", timeout=20_000)
            page.set_input_files("#video-file", str(clip))
            page.wait_for_selector(".video-result.done", timeout=20_000)
            assert page.inner_text(".video-result h3") == "light"
            assert page.inner_text(".video-result .result") == "dark ×2 → bright ×2"
            gif = page.locator(".video-result img")
            assert gif.get_attribute("src").startswith("data:image/gif;base64,")
            page.wait_for_function("document.querySelector('.video-result img').naturalWidth > 0", timeout=20_000)
            assert gif.evaluate("img => [img.naturalWidth, img.naturalHeight > 64]") == [64, True]  # 16 px x 4 + band
            assert page.inner_text("#video-status") == "" and errors == []
        finally:
            context.close()
