"""``mmrnn serve`` JSON API through FastAPI's test client: results equal the predictors', limits give JSON errors."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import threading
import time
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from apps.server.app import ServerSettings, create_app
from apps.server.batching import BatchingConfig
from apps.server.inference import LoadedModel, load_models
from multimodal_rnn.tasks.caption.predictor import CaptionResult
from multimodal_rnn.tasks.caption.serving import CaptionRequest, caption_batch
from multimodal_rnn.tasks.dialog.serving import DialogRequest, dialog_batch
from multimodal_rnn.errors import InputError
from multimodal_rnn.images import load_image
from multimodal_rnn.shipped import card_path, read_card, resolve_weights
from multimodal_rnn.tasks import TASKS

LOOPBACK = "http://127.0.0.1"  # the test client's Host: the server serves loopback names only

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
IMAGE_PATHS = [SAMPLES / f"shapes_test_{i}.png" for i in (1, 2, 3)]
MAX_UPLOAD = 50_000
MAX_PIXELS = 100 * 100


def shipped_weights(task: str) -> Path:
    """The shipped checkpoint of ``task``, as the commands find it."""
    return resolve_weights(None, TASKS[task].shipped, task=task)


@pytest.fixture(scope="module")
def models():
    return load_models({task: shipped_weights(task) for task in ("caption", "vqa", "dialog")})


@pytest.fixture(scope="module")
def client(models):
    settings = ServerSettings(max_upload_bytes=MAX_UPLOAD, max_pixels=MAX_PIXELS, max_question_chars=100,
                              batching=BatchingConfig(max_batch_size=8, max_wait_ms=2))
    with TestClient(create_app(models, settings), base_url=LOOPBACK) as test_client:
        yield test_client


def _png(width: int, height: int, color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's header)."""
    data = bytearray(_png(1, 1))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def _files(data: bytes, name: str = "image.png") -> dict:
    return {"image": (name, data, "image/png")}


def _sample(index: int = 0) -> bytes:
    return IMAGE_PATHS[index].read_bytes()


@pytest.mark.parametrize("beam", [1, 3])
def test_caption_equals_the_captioner(client, models, beam):
    expected = models["caption"].predictor.caption([load_image(IMAGE_PATHS[0])], beam_size=beam,
                                                   with_attention=True)[0]
    response = client.post("/v1/caption", files=_files(_sample()), data={"beam_size": str(beam)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["caption"] == expected.caption and body["words"] == list(expected.words)
    assert body["score"] == pytest.approx(expected.score, abs=1e-3)
    attention = body["attention"]
    assert attention["grid"] == [4, 4] and attention["labels"] == list(expected.words)
    assert len(attention["maps"]) == len(expected.words)
    assert torch.tensor(attention["maps"]).view(-1, 4, 4) == pytest.approx(expected.attention, abs=1e-4)
    assert [sum(m) for m in attention["maps"]] == pytest.approx([1.0] * len(expected.words), abs=1e-3)


def test_vqa_equals_the_answerer(client, models):
    question = "what color is the circle?"
    expected = models["vqa"].predictor.answer([load_image(IMAGE_PATHS[0])], [question], top=3, with_attention=True)[0]
    response = client.post("/v1/vqa", files=_files(_sample()), data={"question": question, "top": "3"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [a["answer"] for a in body["answers"]] == [a for a, _ in expected.answers]
    assert [a["probability"] for a in body["answers"]] == pytest.approx([p for _, p in expected.answers], abs=1e-4)
    assert body["attention"]["labels"] == [f"glimpse {g + 1}" for g in range(expected.attention.shape[0])]


def test_dialog_equals_a_session(client, models):
    session = models["dialog"].predictor.session(load_image(IMAGE_PATHS[1]))
    first = session.ask("how many shapes are there?", top=3)
    second = session.ask("is there a circle?", top=3)
    history = json.dumps([{"question": first.question, "answer": first.answer}])
    response = client.post("/v1/dialog", files=_files(_sample(1)),
                           data={"question": "is there a circle?", "history": history, "top": "3"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["round"] == 2 and body["answer"] == second.answer
    assert [a["answer"] for a in body["alternatives"]] == [a for a, _ in second.alternatives]
    assert [a["probability"] for a in body["alternatives"]] == pytest.approx([p for _, p in second.alternatives],
                                                                             abs=1e-4)


def test_batched_calls_equal_single_calls(models):
    images = [load_image(path) for path in IMAGE_PATHS]
    captioner = models["caption"].predictor
    together = caption_batch(captioner, [CaptionRequest(captioner.transform(image), 3) for image in images])
    alone = captioner.caption(images, beam_size=3, batch_size=1)
    assert [r.caption for r in together] == [r.caption for r in alone]
    assert [r.score for r in together] == pytest.approx([r.score for r in alone], abs=1e-4)
    agent = models["dialog"].predictor
    pixels = [agent.transform(image) for image in images]
    requests = [DialogRequest(pixels[0], "", (), "how many shapes are there?", 3, 3),
                DialogRequest(pixels[1], "a scene", (("is there a square?", "yes"), ("what color is it?", "red")),
                              "is there a circle?", 3, 3),
                DialogRequest(pixels[2], "", (("how many shapes are there?", "two"),), "what color is the circle?", 3, 3)]
    together_turns = dialog_batch(agent, requests)
    alone_turns = [dialog_batch(agent, [request])[0] for request in requests]
    assert [t.answer for t in together_turns] == [t.answer for t in alone_turns]
    for a, b in zip(together_turns, alone_turns):
        assert [p for _, p in a.alternatives] == pytest.approx([p for _, p in b.alternatives], abs=1e-4)


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(models):
    expected = [r.caption for r in models["caption"].predictor.caption([load_image(p) for p in IMAGE_PATHS] * 2,
                                                                       beam_size=2)]
    settings = ServerSettings(batching=BatchingConfig(max_batch_size=8, max_wait_ms=400))  # a wide window
    with TestClient(create_app(models, settings), base_url=LOOPBACK) as client:
        _post_concurrently(client, expected)


def _post_concurrently(client: TestClient, expected: list[str]) -> None:
    results: list = [None] * 6

    def call(i: int) -> None:
        response = client.post("/v1/caption", files=_files(_sample(i % 3)), data={"beam_size": "2"})
        results[i] = (response.status_code, response.json().get("caption"))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [(200, caption) for caption in expected]
    stats = client.get("/healthz").json()["batches"]["caption"]
    assert stats["items"] == 6
    assert stats["batches"] < 6 and stats["largest_batch"] >= 2  # some requests shared a forward pass


def test_healthz_models_and_openapi(client, models):
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["tasks"] == ["caption", "dialog", "vqa"]
    listed = {m["task"]: m for m in client.get("/v1/models").json()["models"]}
    assert set(listed) == {"caption", "vqa", "dialog"}
    caption = listed["caption"]
    path = shipped_weights("caption")
    assert caption["file"] == path.name and caption["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert caption["model"] == "show_attend_tell" and caption["attention"] is True
    assert caption["card"] == read_card(path)  # the card is data: the JSON next to the file
    assert caption["card"]["file"] == path.name and caption["card"]["sha256"] == caption["sha256"]
    assert caption["card"]["model"]["name"] == "show_attend_tell" and caption["card"]["evaluation"][0]["split"] == "test"
    assert listed["vqa"]["card"]["file"] == "vqa_shapes.safetensors" and listed["vqa"]["card"]["task"] == "vqa"
    schema = client.get("/openapi.json").json()
    assert {"/v1/caption", "/v1/vqa", "/v1/dialog", "/healthz", "/v1/models"} <= set(schema["paths"])
    page = client.get("/")
    assert page.status_code == 200 and 'id="file"' in page.text and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200


def test_models_without_a_matching_card_have_none(tmp_path):
    mine = tmp_path / "caption_shapes.safetensors"
    mine.write_bytes(shipped_weights("caption").read_bytes())
    assert load_models({"caption": mine})["caption"].info["card"] is None  # a user's file: no card
    stale = {**read_card(shipped_weights("caption")), "sha256": "0" * 64}
    card_path(mine).write_text(json.dumps(stale), encoding="utf-8")
    assert load_models({"caption": mine})["caption"].info["card"] is None  # a card about other bytes is not shown


def test_tasks_without_a_route_are_refused():
    with pytest.raises(InputError, match="no route for task 'navigation'"):
        load_models({"navigation": Path("x.safetensors")})


def _chunked_multipart(payload: bytes):
    boundary = "mmrnnboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"big.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode()
    body = head + payload + f"\r\n--{boundary}--\r\n".encode()

    def chunks():
        for start in range(0, len(body), 8192):
            yield body[start: start + 8192]

    return chunks(), {"content-type": f"multipart/form-data; boundary={boundary}"}


BAD_REQUESTS = [
    ("empty file", "/v1/caption", {"files": _files(b"")}, 400, "empty"),
    ("not an image", "/v1/caption", {"files": _files(b"hello, world", "notes.txt")}, 415, "not an image"),
    ("truncated", "/v1/caption", {"files": _files(IMAGE_PATHS[0].read_bytes()[:300])}, 400, "truncated"),
    ("too many bytes", "/v1/caption", {"files": _files(b"\x89PNG" + bytes(MAX_UPLOAD))}, 413, "over the limit"),
    ("too many pixels", "/v1/caption", {"files": _files(_png(101, 100))}, 413, "over the limit"),
    ("bomb header", "/v1/caption", {"files": _files(_bomb_png(10_000, 10_000))}, 413, "over the limit of 10000"),
    ("huge bomb header", "/v1/caption", {"files": _files(_bomb_png(100_000, 100_000))}, 413, "decompression-bomb"),
    ("no image", "/v1/caption", {"data": {"beam_size": "3"}}, 422, "image"),
    ("beam 0", "/v1/caption", {"files": _files(IMAGE_PATHS[0].read_bytes()), "data": {"beam_size": "0"}}, 422, "beam_size"),
    ("beam not a number", "/v1/caption", {"files": _files(IMAGE_PATHS[0].read_bytes()), "data": {"beam_size": "x"}},
     422, "beam_size"),
    ("empty question", "/v1/vqa", {"files": _files(IMAGE_PATHS[0].read_bytes()), "data": {"question": "   "}},
     422, "question"),
    ("question of no words", "/v1/vqa", {"files": _files(IMAGE_PATHS[0].read_bytes()), "data": {"question": "..."}},
     422, "no words"),
    ("overlong question", "/v1/vqa",
     {"files": _files(IMAGE_PATHS[0].read_bytes()), "data": {"question": "is there a circle " * 10}}, 422, "limit"),
    ("missing question", "/v1/vqa", {"files": _files(IMAGE_PATHS[0].read_bytes())}, 422, "question"),
    ("history not JSON", "/v1/dialog",
     {"files": _files(IMAGE_PATHS[0].read_bytes()), "data": {"question": "is there a circle", "history": "[{"}},
     422, "history"),
    ("history of wrong shape", "/v1/dialog",
     {"files": _files(IMAGE_PATHS[0].read_bytes()), "data": {"question": "is it red", "history": '[{"q": 1}]'}},
     422, "history round 1"),
    ("unknown route", "/v1/nothing", {"data": {}}, 404, "Not Found"),
]


@pytest.mark.parametrize("name,path,kwargs,status,message", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_request_gets_a_json_error_and_the_server_keeps_serving(client, models, name, path, kwargs, status,
                                                                     message):
    response = client.post(path, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert message in response.json()["error"]
    good = client.post("/v1/caption", files=_files(_sample()), data={"beam_size": "1"})
    assert good.status_code == 200
    assert good.json()["caption"] == models["caption"].predictor.caption([load_image(IMAGE_PATHS[0])],
                                                                         beam_size=1)[0].caption


def test_chunked_upload_over_the_limit_is_refused(client):
    content, headers = _chunked_multipart(b"\x89PNG" + bytes(3 * MAX_UPLOAD))
    response = client.post("/v1/caption", content=content, headers=headers)
    assert response.status_code == 413 and "over the limit" in response.json()["error"]
    assert client.post("/v1/caption", files=_files(_sample())).status_code == 200


class FakeCaptioner:
    """A stand-in predictor whose caption call sleeps ``delay`` seconds or raises ``fail``."""

    def __init__(self) -> None:
        self.model = SimpleNamespace(attends=False)
        self.delay = 0.0
        self.fail: Exception | None = None
        self.finished = threading.Event()

    def transform(self, image):
        return torch.zeros(3, 8, 8)

    def caption_tensors(self, pixels, **_):
        time.sleep(self.delay)
        self.finished.set()
        if self.fail is not None:
            raise self.fail
        return [CaptionResult("a fake caption", ("a", "fake", "caption"), -1.0) for _ in pixels]


def test_timeout_gives_504_and_a_bug_gives_500_then_serving_goes_on():
    fake = FakeCaptioner()
    info = {"file": "fake.safetensors"}
    app = create_app({"caption": LoadedModel("caption", Path("fake.safetensors"), fake, info)},
                     ServerSettings(request_timeout_s=0.2))
    with TestClient(app, raise_server_exceptions=False, base_url=LOOPBACK) as test_client:
        fake.delay = 1.0
        slow = test_client.post("/v1/caption", files=_files(_sample()))
        assert slow.status_code == 504 and "within 0.2 s" in slow.json()["error"]
        assert fake.finished.wait(5)  # the model call itself cannot be interrupted; let it end
        fake.delay, fake.fail = 0.0, RuntimeError("boom")
        broken = test_client.post("/v1/caption", files=_files(_sample()))
        assert broken.status_code == 500 and broken.json() == {"error": "internal error (RuntimeError)"}
        fake.fail = None
        ok = test_client.post("/v1/caption", files=_files(_sample()))
        assert ok.status_code == 200 and ok.json()["caption"] == "a fake caption" and ok.json()["attention"] is None
        missing = test_client.post("/v1/vqa", files=_files(_sample()), data={"question": "is there a circle"})
        assert missing.status_code == 503 and missing.json() == {"error": "no vqa model loaded"}


def test_a_large_image_is_decoded_off_the_event_loop_with_the_same_result(models):
    buffer = io.BytesIO()
    Image.open(IMAGE_PATHS[2]).resize((400, 300)).save(buffer, format="PNG")
    expected = models["caption"].predictor.caption([Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")])[0]
    with TestClient(create_app(models), base_url=LOOPBACK) as client:
        response = client.post("/v1/caption", files=_files(buffer.getvalue()))
    assert response.status_code == 200 and response.json()["caption"] == expected.caption
