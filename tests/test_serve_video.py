"""A video route (``Serving(upload="video")``): the ``video`` upload decoded within the limits in
the decoding threads, the predictor's ``clip_transform`` as pixels, batching, the GIF, the schema."""

from __future__ import annotations

import base64
import io
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageSequence

import apps.server.limits
from apps.server.app import ServerSettings, create_app
from apps.server.batching import BatchingConfig
from apps.server.inference import LoadedModel
from apps.server.limits import SERVER_VIDEO_LIMITS, ApiError, decode_video
from multimodal_rnn.errors import VideoError
from multimodal_rnn.video import VideoLimits
from tests.fake_video_task import ANSWER_THREADS, LIGHT, BrightnessLabeller, dark_then_bright, light_model
from tests.test_serve_tasks import ECHO, EchoPredictor

LOOPBACK = "http://127.0.0.1"
TASKS = {"light": LIGHT, "echo": ECHO}
LABELS = ["dark", "dark", "bright", "bright"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("clips")
    return {suffix: dark_then_bright(folder / f"clip{suffix}").read_bytes() for suffix in (".mp4", ".avi", ".gif")}


def _app(predictor: BrightnessLabeller | None = None, **settings):
    """The toy video task beside the toy image task (``echo``)."""
    echo = LoadedModel("echo", Path("echo.safetensors"), EchoPredictor(), {"file": "echo.safetensors"})
    return create_app({**light_model(predictor), "echo": echo}, ServerSettings(**settings), tasks=TASKS)


def _video(data: bytes, name: str = "clip.mp4") -> dict:
    return {"video": (name, data, "video/mp4")}


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".gif"])
def test_a_video_route_labels_the_sampled_frames_and_answers_their_gif(clips, suffix):
    predictor = BrightnessLabeller()
    with TestClient(_app(predictor), base_url=LOOPBACK) as client:
        response = client.post("/v1/light", files=_video(clips[suffix], f"clip{suffix}"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["frames"] == LABELS and body["model"] == "light.safetensors"
    gif = Image.open(io.BytesIO(base64.b64decode(body["gif"])))
    frames = list(ImageSequence.Iterator(gif))
    assert len(frames) == 4 and gif.size[0] == 64 and gif.size[1] > 64  # 16 px x 4, a label band under
    assert predictor.transform_threads and all(name.startswith("decode") for name in predictor.transform_threads)
    assert ANSWER_THREADS and all(name.startswith("decode") for name in ANSWER_THREADS)  # the GIF off the event loop


def test_without_gif(clips):
    with TestClient(_app(), base_url=LOOPBACK) as client:
        response = client.post("/v1/light", files=_video(clips[".mp4"]), data={"gif": "0"})
        assert response.status_code == 200 and response.json()["gif"] is None
        refused = client.post("/v1/light", files=_video(clips[".mp4"]), data={"gif": "2"})
        assert refused.status_code == 422 and "gif: Input should be less than or equal to 1" in refused.json()["error"]


def test_concurrent_clips_share_a_forward_pass(clips):
    predictor = BrightnessLabeller()
    answers: list[list[str]] = []
    with TestClient(
        _app(predictor, batching=BatchingConfig(max_batch_size=8, max_wait_ms=300), max_decodes=2), base_url=LOOPBACK
    ) as client:

        def call() -> None:
            answers.append(client.post("/v1/light", files=_video(clips[".avi"], "a.avi"), data={"gif": "0"}).json())

        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert [answer["frames"] for answer in answers] == [LABELS] * 4
    assert sum(predictor.calls) == 4 and max(predictor.calls) >= 2


def test_the_upload_field_is_video(clips):
    with TestClient(_app(), base_url=LOOPBACK) as client:
        wrong = client.post("/v1/light", files={"image": ("clip.mp4", clips[".mp4"], "video/mp4")})
        assert wrong.status_code == 422 and wrong.json()["error"] == "video: Field required"
        image_route = client.post("/v1/echo", files=_video(clips[".mp4"]), data={"word": "hi"})
        assert image_route.status_code == 422 and image_route.json()["error"] == "image: Field required"


def test_the_schema_and_the_model_list_say_what_a_route_uploads():
    with TestClient(_app(), base_url=LOOPBACK) as client:
        paths = client.get("/openapi.json").json()["paths"]
        models = {model["file"]: model["upload"] for model in client.get("/v1/models").json()["models"]}
    schema = paths["/v1/light"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["video"] and "image" not in schema["properties"]
    assert schema["properties"]["video"]["format"] == "binary" and "MP4" in schema["properties"]["video"]["description"]
    assert schema["properties"]["gif"] == {
        "type": "integer",
        "description": schema["properties"]["gif"]["description"],
        "default": 1,
        "minimum": 0,
        "maximum": 1,
    }
    assert "image" in paths["/v1/echo"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["required"]
    assert models == {"light.safetensors": "video", "echo.safetensors": "image"}


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "make,name,settings,status,message",
    [
        (lambda clips: b"just some text, no video", "notes.mp4", {}, 415, "notes.mp4: not a video"),
        (lambda clips: _png(), "still.png", {}, 415, "still.png: a still image"),
        (lambda clips: clips[".mp4"][: len(clips[".mp4"]) // 2], "cut.mp4", {}, 400, "cut.mp4: truncated or corrupt"),
        (lambda clips: b"", "empty.mp4", {}, 400, "empty.mp4: empty file"),
        (lambda clips: clips[".avi"], "long.avi", {"max_duration_s": 0.5}, 413, "over the limit of 0.5 s"),
        (lambda clips: clips[".avi"], "many.avi", {"max_frames": 5}, 413, "over the limit of 5 frames"),
        (lambda clips: clips[".gif"], "big.gif", {"max_pixels": 100}, 413, "16x16 = 256 pixels are over the limit"),
    ],
)
def test_unusable_videos_get_the_status_codes_of_images(clips, make, name, settings, status, message):
    predictor = BrightnessLabeller()
    video = VideoLimits(**{"max_duration_s": 60.0, "max_frames": 100, "max_pixels": 64 * 64, **settings})
    with TestClient(_app(predictor, video=video), base_url=LOOPBACK) as client:
        response = client.post("/v1/light", files=_video(make(clips), name))
        assert response.status_code == status and message in response.json()["error"], response.text
        assert predictor.calls == []
        assert client.get("/healthz").status_code == 200  # and the server goes on


def test_the_limits_reach_the_reader(monkeypatch):
    seen: dict = {}

    def record(data, *, name, num_frames, limits):
        seen.update(num_frames=num_frames, limits=limits)
        raise VideoError(f"{name}: stop", "too_large")

    monkeypatch.setattr(apps.server.limits, "read_clip_bytes", record)
    with pytest.raises(ApiError) as refused:
        decode_video(b"data", name="v.mp4", max_bytes=100, num_frames=4, limits=SERVER_VIDEO_LIMITS)
    assert refused.value.status == 413 and refused.value.message == "v.mp4: stop"
    assert seen == {"num_frames": 4, "limits": replace(SERVER_VIDEO_LIMITS, max_file_bytes=100)}
    limits = SERVER_VIDEO_LIMITS  # the values the README and --help give
    assert (limits.max_duration_s, limits.max_frames, limits.max_pixels) == (60.0, 1800, 1920 * 1080)
    with pytest.raises(ApiError) as refused:
        decode_video(b"x" * 101, name="v.mp4", max_bytes=100, num_frames=4, limits=SERVER_VIDEO_LIMITS)
    assert refused.value.status == 413 and "101 bytes, over the limit of 100" in refused.value.message


def test_a_slow_decode_times_out_and_serving_goes_on(clips):
    predictor = BrightnessLabeller()
    release = threading.Event()
    transform = predictor.clip_transform

    def slow(clip):
        release.wait(5)
        return transform(clip)

    predictor.clip_transform = slow  # type: ignore[method-assign]
    with TestClient(_app(predictor, request_timeout_s=0.2), base_url=LOOPBACK) as client:
        response = client.post("/v1/light", files=_video(clips[".mp4"]))
        assert response.status_code == 504 and "within 0.2 s" in response.json()["error"]
        release.set()
        assert client.post("/v1/light", files=_video(clips[".mp4"])).json()["frames"] == LABELS


def test_a_serving_uploads_an_image_or_a_video():
    assert ECHO.serving.upload == "image" and LIGHT.serving.upload == "video"
    with pytest.raises(ValueError, match="upload must be one of image, video, got 'audio'"):
        replace(LIGHT.serving, upload="audio")
