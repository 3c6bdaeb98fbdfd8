"""Request limits of the server: body size (413), image and video decoding (400/413/415); the form fields
of a task (422) are checked by their :class:`~multimodal_rnn.tasks.protocol.FormField` (:mod:`.forms`).

Every refusal is an :class:`ApiError` (status + one-line message) that the app answers as JSON
``{"error": message}``; nothing here stops the server.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import replace
from typing import Any

from PIL import Image

from multimodal_rnn.errors import ImageError, VideoError
from multimodal_rnn.images import load_image_bytes
from multimodal_rnn.video import VideoClip, VideoLimits, read_clip_bytes

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ApiError(Exception):
    """A request the server refuses: HTTP ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """ASGI middleware: requests whose body exceeds ``max_bytes`` get 413 ``{"error": ...}``.

    A declared ``Content-Length`` over the limit is refused before the body is read; a body
    without one (chunked) is counted while the app reads it and refused once it passes the limit.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"request body over the limit of {self.max_bytes} bytes"
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await send_json(send, 413, {"error": message})
            return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _BodyTooLarge(message)
            return event

        async def guarded_send(event: Message) -> None:
            nonlocal started
            if exceeded:  # whatever the app answers to the interrupted body, the client gets 413
                if event["type"] == "http.response.start" and not started:
                    started = True
                    await send_json(send, 413, {"error": message})
                return
            started = started or event["type"] == "http.response.start"
            await send(event)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            if not started:
                await send_json(send, 413, {"error": message})


async def send_json(
    send: Send, status: int, payload: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Answer an ASGI request with ``payload`` as JSON."""
    body = json.dumps(payload).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


def header_pixels(data: bytes) -> int:
    """Width x height from the image header without decoding (0 if the header cannot be read)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            width, height = Image.open(io.BytesIO(data)).size
        return width * height
    except Exception:  # noqa: BLE001  (decode_image reports what is wrong)
        return 0


_IMAGE_STATUS = {"too_large": 413, "not_image": 415, "corrupt": 400}
"""HTTP status of each :class:`~multimodal_rnn.errors.ImageError` kind."""

_IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")
"""Leading bytes of PNG, JPEG, GIF and TIFF files: data starting so is a (broken) image."""


def decode_image(data: bytes, *, name: str, max_bytes: int, max_pixels: int) -> Image.Image:
    """Decode an uploaded image as RGB.

    Raises:
        ApiError: 413 over ``max_bytes`` or ``max_pixels`` (decompression bombs are refused from
            the header, before decoding); 415 not an image; 400 empty, truncated or corrupt (also
            data that starts like a PNG, JPEG, GIF or TIFF file but whose header is cut).
    """
    if len(data) > max_bytes:
        raise ApiError(413, f"{name}: upload is {len(data)} bytes, over the limit of {max_bytes}")
    try:
        return load_image_bytes(data, name=name, max_pixels=max_pixels)
    except ImageError as exc:
        if exc.kind == "not_image" and data.startswith(_IMAGE_SIGNATURES):  # an image cut before its header ends
            raise ApiError(400, f"{name}: truncated or corrupt image (the header is incomplete)") from None
        raise ApiError(_IMAGE_STATUS[exc.kind], str(exc)) from None


SERVER_VIDEO_LIMITS = VideoLimits(
    max_duration_s=60.0, max_frames=1800, max_pixels=1920 * 1080, max_clip_bytes=256 * 1024**2
)
"""The server's default bounds on an uploaded video: 60 s, 1,800 frames (60 s at 30 fps), frames of
at most 1920 x 1080 pixels, sampled frames of at most 256 MiB (the upload's bytes are bounded by
the server's body limit instead)."""

_VIDEO_STATUS = {"too_large": 413, "not_video": 415, "corrupt": 400, "unreadable": 400}
"""HTTP status of each :class:`~multimodal_rnn.errors.VideoError` kind."""


def decode_video(data: bytes, *, name: str, max_bytes: int, num_frames: int, limits: VideoLimits) -> VideoClip:
    """Decode ``num_frames`` frames (sampled uniformly) of an uploaded video (MP4, WebM, AVI, MKV,
    MOV, GIF) within ``limits`` (duration and frames refused from the header where it says so;
    decoding stops after the last sampled frame).

    Raises:
        ApiError: 413 over ``max_bytes`` or a limit of ``limits``; 415 not a video (also a still
            image); 400 empty, truncated, corrupt or without frames.
    """
    if len(data) > max_bytes:
        raise ApiError(413, f"{name}: upload is {len(data)} bytes, over the limit of {max_bytes}")
    try:
        return read_clip_bytes(data, name=name, num_frames=num_frames, limits=replace(limits, max_file_bytes=max_bytes))
    except VideoError as exc:
        raise ApiError(_VIDEO_STATUS[exc.kind], str(exc)) from None
