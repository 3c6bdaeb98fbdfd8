"""The server iterates the tasks: a task with a ``serving`` gets ``POST /v1/<task>`` (form checks,
OpenAPI fields, batching by its key) without any server change; a task without one gets no route."""

from __future__ import annotations

import io
import threading
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from apps.server.app import ServerSettings, create_app
from apps.server.batching import BatchingConfig
from apps.server.inference import LoadedModel, load_models, servable_tasks
from multimodal_rnn.errors import InputError
from multimodal_rnn.registry import Registry
from multimodal_rnn.tasks import TASKS
from multimodal_rnn.tasks.protocol import FieldError, FormField, Serving, ServingLimits, TaskSpec, check_text

LOOPBACK = "http://127.0.0.1"  # the test client's Host: the server serves loopback names only


@dataclass(frozen=True)
class EchoRequest:
    pixels: torch.Tensor
    word: str
    times: int


class EchoPredictor:
    """Repeats a word; records the batches it was called with."""

    checkpoint = None

    def __init__(self) -> None:
        self.model = torch.nn.Linear(1, 1)
        self.calls: list[list[EchoRequest]] = []
        self.lock = threading.Lock()

    def transform(self, image: Image.Image) -> torch.Tensor:
        return torch.ones(3, image.height, image.width)

    @classmethod
    def from_checkpoint(cls, path: Any, *, device: Any = "cpu") -> EchoPredictor:
        return cls()


def echo_batch(predictor: EchoPredictor, requests: Sequence[EchoRequest]) -> list[str]:
    with predictor.lock:
        predictor.calls.append(list(requests))
    return [" ".join([request.word] * request.times) for request in requests]


def echo_fields(limits: ServingLimits) -> tuple[FormField, ...]:
    return (
        FormField("word", "the word", max_chars=limits.max_text_chars, words=True),
        FormField("times", "repeats", kind=int, default=2, minimum=1, maximum=limits.max_top),
    )


def echo_request(fields: Mapping[str, Any], pixels: torch.Tensor) -> EchoRequest:
    return EchoRequest(pixels, fields["word"], fields["times"])


def echo_key(predictor: EchoPredictor, request: EchoRequest) -> Hashable:
    return request.times


ECHO = TaskSpec(
    name="echo",
    summary="a toy task: image + word -> the word repeated",
    models=Registry(),
    predictor_loader=EchoPredictor.from_checkpoint,
    serving=Serving(
        summary="repeat a word",
        fields=echo_fields,
        request=echo_request,
        batch=echo_batch,
        to_json=lambda request, result: {"echo": result, "height": request.pixels.shape[1]},
        key=echo_key,
    ),
)
SILENT = TaskSpec(name="silent", summary="a task without serving", models=Registry(), predictor_loader=print)
TOY_TASKS = {"echo": ECHO, "silent": SILENT}


def _png(width: int = 6, height: int = 5) -> dict:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, format="PNG")
    return {"image": ("a.png", buffer.getvalue(), "image/png")}


def _app(predictor: EchoPredictor, **settings: Any):
    models = {"echo": LoadedModel("echo", Path("echo.safetensors"), predictor, {"file": "echo.safetensors"})}
    return create_app(models, ServerSettings(max_top=7, max_question_chars=20, **settings), tasks=TOY_TASKS)


def test_a_new_task_gets_its_route_and_its_json():
    predictor = EchoPredictor()
    with TestClient(_app(predictor), base_url=LOOPBACK) as client:
        response = client.post("/v1/echo", files=_png(), data={"word": "  hello ", "times": "3"})
        assert response.status_code == 200, response.text
        assert response.json() == {"echo": "hello hello hello", "height": 5, "model": "echo.safetensors"}
        assert client.post("/v1/echo", files=_png(), data={"word": "hi"}).json()["echo"] == "hi hi"  # the default
        assert client.post("/v1/silent", files=_png()).status_code == 404  # no serving, no route
        assert client.get("/healthz").json()["tasks"] == ["echo"]


@pytest.mark.parametrize(
    "data,files,message",
    [
        ({"word": "hi", "times": "0"}, True, "times: Input should be greater than or equal to 1"),
        ({"word": "hi", "times": "8"}, True, "times: Input should be less than or equal to 7"),
        ({"word": "hi", "times": "two"}, True, "times: Input should be a valid integer"),
        ({"word": "..."}, True, "word: empty (no words)"),
        ({"word": "a" * 21}, True, "word: 21 characters, over the limit of 20"),
        ({"times": "0"}, False, "image: Field required; word: Field required; times: Input should be greater"),
    ],
)
def test_the_fields_are_checked_at_the_boundary(data, files, message):
    predictor = EchoPredictor()
    with TestClient(_app(predictor), base_url=LOOPBACK) as client:
        response = client.post("/v1/echo", files=_png() if files else None, data=data)
    assert response.status_code == 422 and message in response.json()["error"]
    assert predictor.calls == []


def test_the_openapi_schema_lists_the_task_fields():
    with TestClient(_app(EchoPredictor()), base_url=LOOPBACK) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/silent" not in paths
    operation = paths["/v1/echo"]["post"]
    assert operation["summary"] == "repeat a word"
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["image", "word"]
    assert schema["properties"]["image"]["format"] == "binary"
    assert schema["properties"]["word"] == {"type": "string", "description": "the word", "maxLength": 20}
    times = schema["properties"]["times"]
    assert (times["type"], times["default"], times["minimum"], times["maximum"]) == ("integer", 2, 1, 7)


def test_requests_with_different_keys_never_share_a_batch():
    predictor = EchoPredictor()
    statuses: list[int] = []
    with TestClient(
        _app(predictor, batching=BatchingConfig(max_batch_size=8, max_wait_ms=300)), base_url=LOOPBACK
    ) as client:

        def call(times: int) -> None:
            response = client.post("/v1/echo", files=_png(), data={"word": "x", "times": str(times)})
            statuses.append(response.status_code)

        threads = [threading.Thread(target=call, args=(1 + i % 2,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert statuses == [200] * 6
    assert sum(len(call) for call in predictor.calls) == 6
    assert all(len({request.times for request in call}) == 1 for call in predictor.calls)
    assert max(len(call) for call in predictor.calls) >= 2  # some requests did share a forward pass


def test_models_load_through_the_task(tmp_path):
    path = tmp_path / "echo.safetensors"
    path.write_bytes(b"not read by the toy loader")
    models = load_models({"echo": path}, tasks=TOY_TASKS)
    assert isinstance(models["echo"].predictor, EchoPredictor) and models["echo"].info["file"] == "echo.safetensors"
    with pytest.raises(InputError, match="no route for task 'silent' \\(it serves echo\\)"):
        load_models({"silent": path}, tasks=TOY_TASKS)


def test_the_registered_tasks_with_serving_are_served():
    assert servable_tasks() == [name for name, task in TASKS.items() if task.serving is not None]
    assert {"caption", "vqa", "dialog"} <= set(servable_tasks()) and "navigation" not in servable_tasks()
    with TestClient(create_app({}, ServerSettings(max_beam_size=4)), base_url=LOOPBACK) as client:
        paths = client.get("/openapi.json").json()["paths"]
        assert {f"/v1/{name}" for name in servable_tasks()} <= set(paths) and "/v1/navigation" not in paths
        body = paths["/v1/caption"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert body["properties"]["beam_size"]["maximum"] == 4
        missing = client.post("/v1/dialog", files=_png(), data={"question": "is there a circle"})
        assert missing.status_code == 503 and missing.json() == {"error": "no dialog model loaded"}


def test_check_text():
    assert check_text("  is it red? ", field="question", max_chars=20) == "is it red?"
    assert check_text("  ", field="caption", max_chars=20, required=False) == ""
    with pytest.raises(FieldError, match="question: empty"):
        check_text(" ... ", field="question", max_chars=20)
