"""The FastAPI application of ``mmrnn serve``: JSON API, web page, limits, dynamic batching.

Build it with :func:`create_app` from loaded models (:func:`.inference.load_models`)
and :class:`ServerSettings`; tests pass small limits. Routes:

* ``GET /`` the web page (``static/index.html``), ``/static/*`` its script and style;
* ``POST /v1/<task>`` for every task with a :class:`~multimodal_rnn.tasks.protocol.Serving`
  (e.g. ``/v1/caption``, ``/v1/vqa``): a multipart form of the ``image`` (a video task's:
  the ``video``, :attr:`~multimodal_rnn.tasks.protocol.Serving.upload`) and the task's fields,
  checked by the task's field list (:mod:`.forms`) and listed in the OpenAPI schema; the task
  makes the request, its batched call answers a group of them, its ``to_json`` the JSON;
* ``GET /healthz``, ``GET /v1/models`` (with each model's ``upload``); the OpenAPI schema at
  ``/openapi.json`` (no ``/docs`` page: FastAPI's loads its script from a CDN, and the project
  works offline).

Errors are JSON ``{"error": "..."}``: 400 corrupt or truncated image or video or malformed form,
401 no or wrong token (:mod:`.access`), 408 request not received in time (:mod:`.connections`),
413 body, form field, pixels or video (duration, frames, pixels per frame) over the limit, 415 not
an image (not a video), 421 Host not allowed, 422 bad or missing fields (empty or overlong
question), 503 task without a model or too many connections, 504 request timeout, 500 a bug
(logged). The server keeps serving after each.

A request that times out stops costing work: its image or video decode, if still waiting for one
of the ``max_decodes`` decoding threads, and its model call, if still queued, never run (a decode
or a batch already running ends, its result unused). A video route's answer (its GIF) is made in
the decoding threads too, off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from multimodal_rnn import __version__
from multimodal_rnn.images import DEFAULT_MAX_PIXELS
from multimodal_rnn.tasks.protocol import Serving, ServingLimits, Task
from multimodal_rnn.video import VideoClip, VideoLimits

from .access import LOOPBACK_HOSTS, AccessMiddleware
from .batching import BatchingConfig, DynamicBatcher
from .forms import check_fields, openapi_request_body, parse_form, read_form
from .inference import LoadedModel, check_servable, servings
from .limits import SERVER_VIDEO_LIMITS, ApiError, BodyLimitMiddleware, decode_image, decode_video, header_pixels

STATIC_DIR = Path(__file__).resolve().parent / "static"
LOG = logging.getLogger("mmrnn.serve")
T = TypeVar("T")
INLINE_DECODE_PIXELS = 256 * 256
"""Images up to this many pixels are decoded on the event loop (well under a millisecond); larger ones in a thread."""


@dataclass(frozen=True)
class ServerSettings:
    """Limits and batching of the server.

    Attributes:
        max_upload_bytes: largest request body (the image plus the form fields), bytes.
        max_pixels: largest image width x height (checked from the header, before decoding).
        max_question_chars: longest question, caption or history entry, characters.
        max_history_rounds: most earlier rounds in a dialog request.
        max_beam_size: largest beam size a request may ask for.
        max_top: most answers a request may ask for.
        max_field_bytes: largest text field of a form, bytes (more: 413).
        request_timeout_s: a request not answered within this many seconds gets 504.
        max_decodes: most images decoded at once (larger than :data:`INLINE_DECODE_PIXELS`, each in
            one of this many threads; videos always are); bounds the memory of concurrent big uploads.
        video: bounds on an uploaded video (duration, frames, pixels per frame; its bytes are
            bounded by ``max_upload_bytes``), see :class:`~multimodal_rnn.video.VideoLimits`.
        allowed_hosts: the ``Host`` header values served (see :mod:`.access`; ``("*",)``: any).
        token: the bearer token every API request needs; None: none.
        batching: dynamic batching of concurrent requests (see :class:`BatchingConfig`).
    """

    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_question_chars: int = 500
    max_history_rounds: int = 20
    max_beam_size: int = 10
    max_top: int = 20
    max_field_bytes: int = 1024 * 1024
    request_timeout_s: float = 30.0
    max_decodes: int = 1
    video: VideoLimits = SERVER_VIDEO_LIMITS
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS
    token: str | None = None
    batching: BatchingConfig = field(default_factory=BatchingConfig)

    def limits(self) -> ServingLimits:
        """The bounds the tasks build their form fields from."""
        return ServingLimits(
            max_text_chars=self.max_question_chars,
            max_history_rounds=self.max_history_rounds,
            max_beam_size=self.max_beam_size,
            max_top=self.max_top,
        )


def create_app(
    models: Mapping[str, LoadedModel],
    settings: ServerSettings = ServerSettings(),
    *,
    tasks: Mapping[str, Task] | None = None,
) -> FastAPI:
    """The app serving ``models`` (task -> loaded model) with a route for every task of ``tasks``
    (default: :data:`multimodal_rnn.tasks.TASKS`) that has a ``serving``; a route whose task has no
    model answers 503."""
    served = servings(tasks)
    limits = settings.limits()
    batchers: dict[str, DynamicBatcher[Any, Any]] = {}
    for task, loaded in models.items():
        check_servable(task, tasks)
        predictor, batch = loaded.predictor, served[task].batch
        batchers[task] = DynamicBatcher(
            lambda items, p=predictor, b=batch: b(p, items), settings.batching, name=f"{task}-batcher"
        )

    decoders = ThreadPoolExecutor(max_workers=settings.max_decodes, thread_name_prefix="decode")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for batcher in batchers.values():
            await batcher.start()
        yield
        for batcher in batchers.values():
            await batcher.stop()
        decoders.shutdown(wait=False, cancel_futures=True)

    routes = "; ".join(f"/v1/{task}: {serving.summary}" for task, serving in served.items())
    app = FastAPI(
        title="mmrnn serve",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        description=f"The tasks of the shared multimodal RNN over HTTP ({routes}).",
    )
    app.state.settings = settings
    app.state.batchers = batchers
    app.state.models = models
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(AccessMiddleware, hosts=settings.allowed_hosts, token=settings.token)  # outermost

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(ClientDisconnect)
    async def _gone(_: Request, exc: ClientDisconnect) -> Response:
        return Response(status_code=400)  # nobody reads it: the client left while sending

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        LOG.exception("internal error", exc_info=exc)
        return JSONResponse({"error": f"internal error ({type(exc).__name__})"}, status_code=500)

    def model_of(task: str) -> LoadedModel:
        if task not in models:
            raise ApiError(503, f"no {task} model loaded")
        return models[task]

    async def within_timeout(work: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(work, settings.request_timeout_s)
        except TimeoutError:
            raise ApiError(504, f"request not answered within {settings.request_timeout_s:g} s") from None

    async def read_pixels(upload: UploadFile, task: str) -> torch.Tensor:
        """The upload decoded and put through the ``task`` model's transform: (3, H, W)."""
        data = await upload.read(settings.max_upload_bytes + 1)
        transform = models[task].predictor.transform

        def decode() -> torch.Tensor:
            return transform(
                decode_image(
                    data,
                    name=upload.filename or "image",
                    max_bytes=settings.max_upload_bytes,
                    max_pixels=settings.max_pixels,
                )
            )

        if header_pixels(data) <= INLINE_DECODE_PIXELS:  # small: cheaper than a thread hop (and its GIL traffic)
            return decode()
        # at most max_decodes at once, also after timeouts; a cancelled request's queued decode never starts
        return await asyncio.get_running_loop().run_in_executor(decoders, decode)

    async def read_clip(upload: UploadFile, task: str) -> tuple[torch.Tensor, VideoClip]:
        """The uploaded video's ``num_frames`` frames (a ``VideoClip``) and the ``task`` model's
        ``clip_transform`` of them, (T, 3, H, W); decoded in the decoding threads."""
        data = await upload.read(settings.max_upload_bytes + 1)
        predictor = models[task].predictor

        def decode() -> tuple[torch.Tensor, VideoClip]:
            clip = decode_video(
                data,
                name=upload.filename or "video",
                max_bytes=settings.max_upload_bytes,
                num_frames=predictor.num_frames,
                limits=settings.video,
            )
            return predictor.clip_transform(clip), clip

        return await asyncio.get_running_loop().run_in_executor(decoders, decode)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/healthz", summary="liveness, loaded tasks and batching counters")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "tasks": sorted(models),
            "batching": asdict(settings.batching),
            "batches": {task: asdict(b.stats) for task, b in batchers.items()},
        }

    @app.get("/v1/models", summary="the loaded weights and their model cards")
    async def list_models() -> dict[str, Any]:
        return {
            "models": [{**loaded.info, "task": task, "upload": served[task].upload} for task, loaded in models.items()]
        }

    def add_task_route(task: str, serving: Serving[Any, Any]) -> None:
        """``POST /v1/<task>``: the task's form, checked by its fields, answered by its batcher."""
        fields = tuple(serving.fields(limits))

        async def answer(request: Request) -> dict[str, Any]:
            form = await parse_form(request, max_field_bytes=settings.max_field_bytes)
            try:
                upload, values = read_form(form, fields, upload=serving.upload)
                loaded = model_of(task)
                values = check_fields(fields, values)

                async def work() -> dict[str, Any]:
                    if serving.upload == "video":
                        pixels, clip = await read_clip(upload, task)
                        item = serving.request({**values, "video": clip}, pixels)
                    else:
                        item = serving.request(values, await read_pixels(upload, task))
                    result = await batchers[task].submit(item, key=serving.key(loaded.predictor, item))
                    if serving.upload == "video":  # its GIF takes tens of ms to encode: off the event loop
                        loop = asyncio.get_running_loop()
                        return {
                            **await loop.run_in_executor(decoders, serving.to_json, item, result),
                            "model": loaded.info["file"],
                        }
                    return {**serving.to_json(item, result), "model": loaded.info["file"]}

                return await within_timeout(work())
            finally:
                await form.close()

        app.add_api_route(
            f"/v1/{task}",
            answer,
            methods=["POST"],
            summary=serving.summary,
            name=task,
            openapi_extra=openapi_request_body(fields, upload=serving.upload),
        )

    for task, serving in served.items():
        add_task_route(task, serving)

    return app
