"""The FastAPI application of ``mmrnn serve``: JSON API, web page, limits, dynamic batching.

Build it with :func:`create_app` from loaded models (:func:`.inference.load_models`)
and :class:`ServerSettings`; tests pass small limits. Routes:

* ``GET /`` the web page (``static/index.html``), ``/static/*`` its script and style;
* ``POST /v1/caption`` (multipart: ``image``, ``beam_size``), ``POST /v1/vqa`` (``image``,
  ``question``, ``top``), ``POST /v1/dialog`` (``image``, ``question``, ``history`` JSON,
  ``caption``, ``top``, ``beam_size``);
* ``GET /healthz``, ``GET /v1/models``; the OpenAPI schema at ``/openapi.json`` (no ``/docs``
  page: FastAPI's loads its script from a CDN, and the project works offline).

Errors are JSON ``{"error": "..."}``: 400 corrupt image, 413 body or pixels over the limit, 415
not an image, 422 bad or missing fields (empty or overlong question), 503 task without a model,
504 request timeout, 500 a bug (logged). The server keeps serving after each.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, TypeVar

import torch
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from multimodal_rnn import __version__
from multimodal_rnn.images import DEFAULT_MAX_PIXELS

from .batching import BatchingConfig, DynamicBatcher
from .inference import BATCH_FUNCTIONS, CaptionRequest, DialogRequest, LoadedModel, VQARequest
from .limits import ApiError, BodyLimitMiddleware, check_text, decode_image, header_pixels, parse_history

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
        request_timeout_s: a request not answered within this many seconds gets 504.
        batching: dynamic batching of concurrent requests (see :class:`BatchingConfig`).
    """

    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_question_chars: int = 500
    max_history_rounds: int = 20
    max_beam_size: int = 10
    max_top: int = 20
    request_timeout_s: float = 30.0
    batching: BatchingConfig = field(default_factory=BatchingConfig)


def _attention_json(attention: Any, labels: list[str]) -> dict[str, Any] | None:
    """Attention (L, h, w) as ``{"grid": [h, w], "labels": [...], "maps": [[h*w floats], ...]}``."""
    if attention is None:
        return None
    maps = [[round(float(v), 5) for v in row.reshape(-1).tolist()] for row in attention]
    return {"grid": list(attention.shape[1:]), "labels": labels, "maps": maps}


def create_app(models: dict[str, LoadedModel], settings: ServerSettings = ServerSettings()) -> FastAPI:
    """The app serving ``models`` (task -> loaded model; tasks ``caption``, ``vqa``, ``dialog``)."""
    batchers: dict[str, DynamicBatcher[Any, Any]] = {}
    for task, loaded in models.items():
        predictor, function = loaded.predictor, BATCH_FUNCTIONS[task]
        batchers[task] = DynamicBatcher(lambda items, p=predictor, f=function: f(p, items), settings.batching,
                                        name=f"{task}-batcher")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for batcher in batchers.values():
            await batcher.start()
        yield
        for batcher in batchers.values():
            await batcher.stop()

    app = FastAPI(title="mmrnn serve", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Captioning, visual question answering and visual dialog on the shared multimodal RNN.")
    app.state.settings = settings
    app.state.batchers = batchers
    app.state.models = models
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
            parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid")))
        return JSONResponse({"error": "; ".join(parts) or "invalid request"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

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
        except (asyncio.TimeoutError, TimeoutError):
            raise ApiError(504, f"request not answered within {settings.request_timeout_s:g} s") from None

    large_decodes = asyncio.Semaphore(2)  # bounds the memory of concurrent big decodes

    async def read_pixels(upload: UploadFile, task: str) -> torch.Tensor:
        """The upload decoded and put through the ``task`` model's transform: (3, H, W)."""
        data = await upload.read(settings.max_upload_bytes + 1)
        transform = models[task].predictor.transform

        def decode() -> torch.Tensor:
            return transform(decode_image(data, name=upload.filename or "image", max_bytes=settings.max_upload_bytes,
                                          max_pixels=settings.max_pixels))

        if header_pixels(data) <= INLINE_DECODE_PIXELS:  # small: cheaper than a thread hop (and its GIL traffic)
            return decode()
        async with large_decodes:
            return await run_in_threadpool(decode)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/healthz", summary="liveness, loaded tasks and batching counters")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "tasks": sorted(models),
                "batching": asdict(settings.batching),
                "batches": {task: asdict(b.stats) for task, b in batchers.items()}}

    @app.get("/v1/models", summary="the loaded weights and their model cards")
    async def list_models() -> dict[str, Any]:
        return {"models": [loaded.info for loaded in models.values()]}

    @app.post("/v1/caption", summary="caption an image (with the attention of each word)")
    async def caption(
        image: UploadFile = File(..., description="the image (JPEG, PNG, ...)"),
        beam_size: int = Form(3, ge=1, le=settings.max_beam_size, description="beam size; 1 = greedy"),
    ) -> dict[str, Any]:
        loaded = model_of("caption")

        async def work() -> dict[str, Any]:
            pixels = await read_pixels(image, "caption")
            result = await batchers["caption"].submit(CaptionRequest(pixels, beam_size), key=beam_size)
            return {"caption": result.caption, "words": list(result.words), "score": round(result.score, 4),
                    "attention": _attention_json(result.attention, list(result.words)), "model": loaded.info["file"]}

        return await within_timeout(work())

    @app.post("/v1/vqa", summary="answer a question about an image")
    async def vqa(
        image: UploadFile = File(..., description="the image (JPEG, PNG, ...)"),
        question: str = Form(..., description="the question"),
        top: int = Form(5, ge=1, le=settings.max_top, description="how many answers"),
    ) -> dict[str, Any]:
        loaded = model_of("vqa")
        question = check_text(question, field="question", max_chars=settings.max_question_chars)

        async def work() -> dict[str, Any]:
            pixels = await read_pixels(image, "vqa")
            result = await batchers["vqa"].submit(VQARequest(pixels, question, top))
            labels = [f"glimpse {g + 1}" for g in range(result.attention.shape[0])] if result.attention is not None else []
            return {"question": question,
                    "answers": [{"answer": a, "probability": round(p, 4)} for a, p in result.answers],
                    "attention": _attention_json(result.attention, labels), "model": loaded.info["file"]}

        return await within_timeout(work())

    @app.post("/v1/dialog", summary="answer the next question of a dialog about an image")
    async def dialog(
        image: UploadFile = File(..., description="the image (JPEG, PNG, ...)"),
        question: str = Form(..., description="the new question"),
        history: str = Form("[]", description='earlier rounds, JSON: [{"question": "...", "answer": "..."}, ...]'),
        caption: str = Form("", description="a caption that starts the dialog history"),
        top: int = Form(5, ge=1, le=settings.max_top, description="how many candidate answers to list"),
        beam_size: int = Form(3, ge=1, le=settings.max_beam_size, description="generative models"),
    ) -> dict[str, Any]:
        loaded = model_of("dialog")
        question = check_text(question, field="question", max_chars=settings.max_question_chars)
        caption = check_text(caption, field="caption", max_chars=settings.max_question_chars, required=False)
        rounds = parse_history(history, max_rounds=settings.max_history_rounds, max_chars=settings.max_question_chars)

        async def work() -> dict[str, Any]:
            pixels = await read_pixels(image, "dialog")
            request = DialogRequest(pixels, caption, rounds, question, top, beam_size)
            generative = getattr(loaded.predictor.model, "decoder", None) == "generative"
            turn = await batchers["dialog"].submit(request, key=beam_size if generative else None)
            return {"round": len(rounds) + 1, "question": question, "answer": turn.answer,
                    "alternatives": [{"answer": a, "probability": round(p, 4)} for a, p in turn.alternatives],
                    "model": loaded.info["file"]}

        return await within_timeout(work())

    return app
