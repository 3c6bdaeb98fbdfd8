"""``mmrnn serve``: an HTTP server (JSON API and web page) for every task that can be served."""

from __future__ import annotations

import argparse
import logging

from pathlib import Path

from multimodal_rnn.errors import InputError
from multimodal_rnn.images import DEFAULT_MAX_PIXELS
from multimodal_rnn.shipped import resolve_weights

NAME = "serve"
HELP = "serve the models over HTTP: a web page and a JSON API (POST /v1/TASK), with dynamic batching"

_EPILOG = """\
examples:
  mmrnn serve                                   (web page http://127.0.0.1:8000/, API schema /openapi.json)
  mmrnn serve --port 9000 --weights caption=runs/caption/best.safetensors
  mmrnn serve --tasks caption --max-batch-size 64 --max-wait-ms 10
  curl -F image=@photo.png -F beam_size=3 http://127.0.0.1:8000/v1/caption
  curl -F image=@photo.png -F "question=what color is the circle?" http://127.0.0.1:8000/v1/vqa

The server binds to loopback (127.0.0.1) unless --host says otherwise; it has no authentication,
so think twice before --host 0.0.0.0."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from multimodal_rnn.tasks import TASKS

    servable = ",".join(name for name, task in TASKS.items() if task.served)  # the server's import would load torch
    parser.epilog = _EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default: %(default)s)")
    parser.add_argument("--weights", action="append", default=[], metavar="TASK=FILE",
                        help=f"checkpoint of a task ({servable}); repeatable; default: the shipped weights")
    parser.add_argument("--tasks", default=None, metavar="LIST",
                        help="comma-separated tasks to serve (default: every task with a route and shipped or "
                             f"--weights weights, of {servable})")
    parser.add_argument("--max-batch-size", type=int, default=32, metavar="N",
                        help="most requests per model call (default: %(default)s)")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, metavar="MS",
                        help="how long a request waits for others to batch with (default: %(default)s)")
    parser.add_argument("--no-batching", action="store_true", help="run requests one at a time (benchmark baseline)")
    parser.add_argument("--max-upload-bytes", type=int, default=10 * 1024 * 1024, metavar="N",
                        help="largest request body (default: %(default)s)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                        help="refuse images with more pixels than this (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="S",
                        help="answer 504 to a request not done within S seconds (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
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
        if not path.is_file():
            raise InputError(f"{path}: no such checkpoint file")
        paths[task] = path
    return paths


def run(args: argparse.Namespace) -> int:
    import torch
    import uvicorn

    from ..server.app import ServerSettings, create_app
    from ..server.batching import BatchingConfig
    from ..server.inference import load_models

    if args.max_batch_size < 1 or args.max_wait_ms < 0 or args.timeout <= 0 or args.max_upload_bytes < 1:
        raise InputError("--max-batch-size, --timeout and --max-upload-bytes must be positive, --max-wait-ms at least 0")
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be 0..65535, got {args.port}")
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))
    paths = weight_paths(args.tasks, args.weights)
    models = load_models(paths, device=args.device)
    settings = ServerSettings(
        max_upload_bytes=args.max_upload_bytes, max_pixels=args.max_pixels, request_timeout_s=args.timeout,
        batching=BatchingConfig(enabled=not args.no_batching, max_batch_size=args.max_batch_size,
                                max_wait_ms=args.max_wait_ms),
    )
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s: %(message)s")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        logging.getLogger("mmrnn.serve").warning("binding %s: the server is reachable from other machines and has "
                                                 "no authentication", args.host)
    app = create_app(models, settings)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
