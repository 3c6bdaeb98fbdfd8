"""The real video routes (``/v1/action``, ``/v1/frames``, ``/v1/video_caption``) through the server on
tiny checkpoints written by the test: a clip upload answers what the task's predictor says, with its GIF."""

from __future__ import annotations

import base64
import io
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image, ImageSequence

from apps.server.app import ServerSettings, create_app
from apps.server.inference import load_models
from multimodal_rnn.checkpoint import save_checkpoint
from multimodal_rnn.tasks import MODELS
from multimodal_rnn.text.vocab import Vocabulary
from multimodal_rnn.video import read_clip, write_clip

LOOPBACK = "http://127.0.0.1"
CLIP_OPTIONS = {"encoder": {"channels": [4, 8], "image_size": 16}, "num_frames": 4, "dropout": 0.0}


def _checkpoints(folder: Path) -> dict[str, Path]:
    """Tiny random checkpoints of the three video tasks."""
    torch.manual_seed(0)
    paths = {task: folder / f"{task}.safetensors" for task in ("action", "frames", "video_caption")}
    classes = ["left", "right", "still"]
    for task, name in (("action", "lrcn"), ("frames", "frame_rnn")):
        model = MODELS.build(name, {**CLIP_OPTIONS, "num_classes": 3, "spatial_size": 12, "hidden_size": 10})
        save_checkpoint(
            paths[task], model, task=task, model_name=name, model_config=model.config, extra={"classes": classes}
        )
    vocab = Vocabulary.build([["a", "square", "moves", "right"], ["a", "circle", "stays"]])
    options = {
        **CLIP_OPTIONS,
        "embed_size": 16,
        "hidden_size": 32,
        "frame_size": 24,
        "vocab_size": len(vocab),
        "max_length": 6,
    }
    model = MODELS.build("temporal_attention", options)
    save_checkpoint(
        paths["video_caption"],
        model,
        task="video_caption",
        model_name="temporal_attention",
        model_config=model.config,
        vocab=vocab.to_dict(),
    )
    return paths


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("video_tasks")
    models = load_models(_checkpoints(folder))
    clip = folder / "clip.mp4"
    frames = np.full((8, 32, 32, 3), 90, dtype=np.uint8)
    for t in range(8):
        frames[t, 10:18, 3 * t : 3 * t + 8] = (220, 60, 40)  # a square moving right
    write_clip(clip, frames, fps=8)
    with TestClient(create_app(models, ServerSettings()), base_url=LOOPBACK) as client:
        yield client, models, clip


def _post(client: TestClient, task: str, clip: Path, **data: str):
    response = client.post(f"/v1/{task}", files={"video": (clip.name, clip.read_bytes(), "video/mp4")}, data=data)
    assert response.status_code == 200, response.text
    return response.json()


def _gif_frames(body: dict) -> int:
    return len(list(ImageSequence.Iterator(Image.open(io.BytesIO(base64.b64decode(body["gif"]))))))


def test_action_answers_the_classifier(served):
    client, models, clip = served
    classifier = models["action"].predictor
    expected = classifier.classify([read_clip(clip, num_frames=classifier.num_frames)], top=2)[0]
    body = _post(client, "action", clip, top="2")
    assert body["label"] == expected.label and [c["class"] for c in body["classes"]] == [n for n, _ in expected.classes]
    assert body["frames"] == 4 and _gif_frames(body) >= 1


def test_frames_answers_the_labeler(served):
    client, models, clip = served
    labeler = models["frames"].predictor
    expected = labeler.label([read_clip(clip, num_frames=labeler.num_frames)])[0]
    body = _post(client, "frames", clip)
    assert [frame["label"] for frame in body["frames"]] == list(expected.labels)
    assert [frame["index"] for frame in body["frames"]] == list(read_clip(clip, num_frames=4).indices)
    assert _gif_frames(body) >= 1


def test_video_caption_answers_the_captioner(served):
    client, models, clip = served
    captioner = models["video_caption"].predictor
    expected = captioner.caption([read_clip(clip, num_frames=captioner.num_frames)], beam_size=2)[0]
    body = _post(client, "video_caption", clip, beam_size="2", gif="0")
    assert body["caption"] == expected.caption and body["gif"] is None


def test_the_models_list_and_the_schema_name_the_video_upload(served):
    client, _, _ = served
    uploads = {model["task"]: model["upload"] for model in client.get("/v1/models").json()["models"]}
    assert uploads == {"action": "video", "frames": "video", "video_caption": "video"}
    paths = client.get("/openapi.json").json()["paths"]
    for task in uploads:
        schema = paths[f"/v1/{task}"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert schema["required"][0] == "video" and "gif" in schema["properties"]
    assert paths["/v1/caption"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["required"] == [
        "image"
    ]


def test_the_shipped_video_models_answer_a_moving_shapes_clip(tmp_path):
    from multimodal_rnn.datasets.moving_shapes import MovingShapesConfig
    from multimodal_rnn.datasets.moving_shapes.clips import make_clip
    from multimodal_rnn.datasets.moving_shapes.render import render_clip
    from multimodal_rnn.shipped import resolve_weights
    from multimodal_rnn.tasks import TASKS

    config = MovingShapesConfig()
    path = tmp_path / "moves_left.mp4"
    write_clip(path, render_clip(make_clip(random.Random(3), "MovesLeft", config), config.frame_size), fps=config.fps)
    tasks = ("action", "frames", "video_caption")
    models = load_models({task: resolve_weights(None, TASKS[task].shipped, task=task) for task in tasks})
    with TestClient(create_app(models, ServerSettings()), base_url=LOOPBACK) as client:
        action = _post(client, "action", path, top="3")
        frames = _post(client, "frames", path)
        caption = _post(client, "video_caption", path)
    classifier, labeler, captioner = (models[task].predictor for task in tasks)
    assert action["label"] == "MovesLeft" == classifier.classify([read_clip(path, num_frames=16)])[0].label
    expected = labeler.label([read_clip(path, num_frames=labeler.num_frames)])[0].labels
    assert [frame["label"] for frame in frames["frames"]] == list(expected) and "moving left" in expected
    clip = read_clip(path, num_frames=captioner.num_frames)
    assert caption["caption"] == captioner.caption([clip], beam_size=3)[0].caption
    assert all(_gif_frames(body) >= 2 for body in (action, frames, caption))
