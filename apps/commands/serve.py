"""``mmrnn serve``: an HTTP server (JSON API and web page) for every task that can be served."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from multimodal_rnn.errors import InputError
from multimodal_rnn.images import DEFAULT_MAX_PIXELS
from multimodal_rnn.options import float_range, int_range, positive_int
from multimodal_rnn.shipped import resolve_weights

from ..server.limits import SERVER_VIDEO_LIMITS

NAME = "serve"
MAX_BATCH_SIZE = 1024
MAX_WAIT_MS = 1000.0
MAX_UPLOAD_BYTES = 1024 * 1024 * 1024
MAX_TIMEOUT_S = 3600.0
MAX_CONNECTIONS = 10_000
MAX_VIDEO_SECONDS = 3600.0
MAX_VIDEO_FRAMES = 1_000_000
HELP = "serve the models over HTTP: a web page and a JSON API (POST /v1/TASK), with dynamic batching"

_EPILOG = """\
examples:
  mmrnn serve                                   (web page http://127.0.0.1:8000/, API schema /openapi.json)
  mmrnn serve --port 9000 --weights caption=runs/caption/best.safetensors
  mmrnn serve --weights caption=deploy/caption --weights vqa=deploy/vqa   (folders of mmrnn export)
  mmrnn serve --tasks caption --max-batch-size 64 --max-wait-ms 10
  MMRNN_TOKEN=$(openssl rand -hex 16) mmrnn serve --host 0.0.0.0 --allowed-host myhost.example
  curl -F image=@photo.png -F beam_size=3 http://127.0.0.1:8000/v1/caption
  curl -F image=@photo.png -F "question=what color is the circle?" http://127.0.0.1:8000/v1/vqa
  curl -F video=@clip.mp4 -F gif=0 http://127.0.0.1:8000/v1/action           (a video task: the 'video' field)
  curl -H "Authorization: Bearer $MMRNN_TOKEN" -F image=@photo.png http://myhost.example:8000/v1/caption

The server binds to loopback (127.0.0.1) unless --host says otherwise, and answers only requests
whose Host header is a loopback name, the --host address or an --allowed-host (else 421). A token
(--token or the MMRNN_TOKEN environment variable, which `ps` does not show) makes every request but
the web page need 'Authorization: Bearer TOKEN' (else 401); the page asks for it. Binding a
non-loopback address needs a token or --allow-unauthenticated.

Connections: request headers must arrive within --header-timeout seconds and the body within
--body-timeout seconds of them (else 408 and closed); connections beyond --max-connections get 503;
idle keep-alive connections close after 5 s. On SIGTERM or Ctrl+C the server stops accepting,
answers 503 to uploads still arriving and gives other requests up to --timeout seconds."""

TOKEN_ENV = "MMRNN_TOKEN"
"""Environment variable holding the bearer token when ``--token`` is not given."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from multimodal_rnn.tasks import TASKS

    servable = ",".join(name for name, task in TASKS.items() if task.served)  # the server's import would load torch
    parser.epilog = _EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, loopback only)")
    parser.add_argument("--port", type=int_range(0, 65535), default=8000,
                        help="TCP port, 0..65535 (0: any free one; default: %(default)s)")
    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                        help="also answer requests whose Host header is NAME (a name or address without port; "
                             "repeatable; '*' for any); loopback names and the --host address always are")
    parser.add_argument("--token", default=None,
                        help=f"bearer token every API request must carry (default: ${TOKEN_ENV}; none if unset)")
    parser.add_argument("--allow-unauthenticated", action="store_true",
                        help="allow a non-loopback --host without a token")
    parser.add_argument("--weights", action="append", default=[], metavar="TASK=FILE",
                        help=f"checkpoint of a task ({servable}), or for caption and vqa an export folder of "
                             "'mmrnn export' (run by onnxruntime); repeatable; default: the shipped weights")
    parser.add_argument("--tasks", default=None, metavar="LIST",
                        help="comma-separated tasks to serve (default: every task with a route and shipped or "
                             f"--weights weights, of {servable})")
    parser.add_argument("--max-batch-size", type=int_range(1, MAX_BATCH_SIZE), default=32, metavar="N",
                        help=f"most requests per model call, 1..{MAX_BATCH_SIZE} (default: %(default)s)")
    parser.add_argument("--max-wait-ms", type=float_range(0.0, MAX_WAIT_MS), default=5.0, metavar="MS",
                        help="how long a request waits for others to batch with, "
                             f"0..{MAX_WAIT_MS:g} (default: %(default)s)")
    parser.add_argument("--no-batching", action="store_true", help="run requests one at a time (benchmark baseline)")
    parser.add_argument("--max-upload-bytes", type=int_range(1, MAX_UPLOAD_BYTES), default=10 * 1024 * 1024,
                        metavar="N", help=f"largest request body, 1..{MAX_UPLOAD_BYTES} (default: %(default)s)")
    parser.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
                        help="refuse images with more pixels than this (default: %(default)s)")
    video = SERVER_VIDEO_LIMITS
    parser.add_argument("--max-video-seconds", type=float_range(0.0, MAX_VIDEO_SECONDS, low_open=True),
                        default=video.max_duration_s, metavar="S",
                        help=f"refuse videos longer than S seconds, 0 < S <= {MAX_VIDEO_SECONDS:g} "
                             "(default: %(default)s)")
    parser.add_argument("--max-video-frames", type=int_range(1, MAX_VIDEO_FRAMES), default=video.max_frames,
                        metavar="N", help=f"refuse videos of more frames, 1..{MAX_VIDEO_FRAMES} (default: %(default)s)")
    parser.add_argument("--max-frame-pixels", type=positive_int, default=video.max_pixels, metavar="N",
                        help="refuse videos whose frames have more pixels than this (default: %(default)s)")
    parser.add_argument("--timeout", type=float_range(0.0, MAX_TIMEOUT_S, low_open=True), default=30.0, metavar="S",
                        help=f"answer 504 to a request not done within S seconds, 0 < S <= {MAX_TIMEOUT_S:g} "
                             "(default: %(default)s)")
    parser.add_argument("--header-timeout", type=float_range(0.0, MAX_TIMEOUT_S, low_open=True), default=10.0,
                        metavar="S", help="close a connection whose request headers take longer (default: %(default)s)")
    parser.add_argument("--body-timeout", type=float_range(0.0, MAX_TIMEOUT_S, low_open=True), default=60.0,
                        metavar="S", help="close a connection whose request body takes longer after its headers "
                                          "(default: %(default)s)")
    parser.add_argument("--max-connections", type=int_range(1, MAX_CONNECTIONS), default=64, metavar="N",
                        help=f"most open connections, 1..{MAX_CONNECTIONS}; more get 503 (default: %(default)s)")
    parser.add_argument("--threads", type=positive_int, default=None, metavar="N",
                        help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="torch device for the models (default: %(default)s)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                        help="uvicorn log level (default: %(default)s)")


def weight_paths(tasks_text: str | None, overrides: list[str]) -> dict[str, Path]:
    """Task -> checkpoint path from ``--tasks`` and ``--weights TASK=FILE``.

    The tasks are those the server has a route for (:func:`~.server.inference.servable_tasks`);
    without ``--tasks``, every one of them that ships default weights or is given ``--weights``.
    """
    from multimodal_rnn.tasks import TASKS

    from ..server.inference import servable_tasks

    servable = servable_tasks()
    choices = ", ".join(servable)
    given: dict[str, str] = {}
    for entry in overrides:
        task, sep, path = entry.partition("=")
        if not sep or task not in servable or not path:
            raise InputError(f"--weights {entry!r}: expected TASK=FILE with TASK one of {choices}")
        given[task] = path
    if tasks_text is None:
        tasks = [task for task in servable if "default" in TASKS[task].shipped or task in given]
    else:
        tasks = [task.strip() for task in tasks_text.split(",") if task.strip()]
    unknown = [task for task in tasks if task not in servable]
    if unknown or not tasks:
        raise InputError(f"--tasks: unknown or no task {unknown or tasks_text!r}; choose from {choices}")
    paths = {}
    for task in tasks:
        path = resolve_weights(given.get(task), TASKS[task].shipped, task=task)
        if not path.is_file() and not (path / "export.json").is_file():
            raise InputError(f"{path}: no such checkpoint file")
        paths[task] = path
    return paths


def token_of(args: argparse.Namespace) -> str | None:
    """The bearer token: ``--token``, else ``$MMRNN_TOKEN``, else None; refuses an empty one and a
    non-loopback ``--host`` without one (unless ``--allow-unauthenticated``)."""
    from ..server.access import is_loopback

    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV)
    if token is not None and not token.strip():
        raise InputError(f"--token / ${TOKEN_ENV}: empty token")
    if token is None and not is_loopback(args.host) and not args.allow_unauthenticated:
        raise InputError(f"--host {args.host}: other machines could reach the server without a token; set "
                         f"${TOKEN_ENV} (or --token), or pass --allow-unauthenticated")
    return token.strip() if token is not None else None


def run(args: argparse.Namespace) -> int:
    import torch

    from multimodal_rnn.video import VideoLimits

    from ..server.access import allowed_hosts, is_loopback
    from ..server.app import ServerSettings, create_app
    from ..server.batching import BatchingConfig
    from ..server.connections import ConnectionLimits, bind_sockets, run_server
    from ..server.inference import load_models

    token = token_of(args)
    paths = weight_paths(args.tasks, args.weights)
    sockets = bind_sockets(args.host, args.port)  # before loading: a port in use fails at once
    try:
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        models = load_models(paths, device=args.device)
        settings = ServerSettings(
            max_upload_bytes=args.max_upload_bytes, max_pixels=args.max_pixels, request_timeout_s=args.timeout,
            video=VideoLimits(max_duration_s=args.max_video_seconds, max_frames=args.max_video_frames,
                              max_pixels=args.max_frame_pixels),
            allowed_hosts=allowed_hosts(args.host, args.allowed_host), token=token,
            batching=BatchingConfig(enabled=not args.no_batching, max_batch_size=args.max_batch_size,
                                    max_wait_ms=args.max_wait_ms),
        )
        logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s: %(message)s")
        log = logging.getLogger("mmrnn.serve")
        if token is None and not is_loopback(args.host):
            log.warning("binding %s without a token (--allow-unauthenticated): anyone who can reach it may use it",
                        args.host)
        log.info("answering Host %s%s", ", ".join(settings.allowed_hosts),
                 "; API requests need the bearer token" if token else "")
        limits = ConnectionLimits(header_timeout_s=args.header_timeout, body_timeout_s=args.body_timeout,
                                  max_connections=args.max_connections)
        run_server(create_app(models, settings), sockets, limits=limits, shutdown_timeout_s=args.timeout,
                   log_level=args.log_level)
    finally:
        for sock in sockets:
            sock.close()
    return 0
