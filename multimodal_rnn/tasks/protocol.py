"""The contract every task package fulfils, and the pieces all predictors share.

A task (``multimodal_rnn/tasks/<task>/``) exposes one :class:`Task` value, ``TASK``. The apps
(``mmrnn train|predict|eval TASK``, the server, shipped-weight lookup) iterate
:data:`multimodal_rnn.tasks.TASKS` and never name a task. A task declares:

* ``models``: its :class:`~multimodal_rnn.registry.Registry` (one config class per model);
* ``load_predictor(path, device=...)``: its predictor (Captioner, Answerer, ...) from a checkpoint;
* ``shipped``: the shipped checkpoint files it owns, by variant name (``"default"`` first);
* ``commands``: ``{"train" | "predict" | "eval": TaskCommand}``, each adding its arguments to an
  ``argparse`` parser and running with an already-parsed namespace. Commands never print: they
  return a :class:`Report` (lines for stdout, notes for stderr, an optional JSON-ready payload)
  and receive a :class:`RunContext` that carries the app's progress bars and log lines;
* ``serving``: how the server offers the task over HTTP, or None (not served). A :class:`Serving`
  gives the route's one-line summary, its form fields (:class:`FormField`: name, type, default,
  bounds, description; built from the server's :class:`ServingLimits`), how validated fields and
  the image's transformed pixels make a request, the batching key (requests with different keys,
  e.g. beam sizes, never share a forward pass), the batched call ``batch(predictor, requests) ->
  results`` and ``to_json(request, result)``, the route's JSON answer. The server registers
  ``POST /v1/<task name>`` for every task with a ``serving``, validates the fields by their
  :class:`FormField` (text fields with :func:`check_text`; a refused field is a :class:`FieldError`,
  HTTP 422) and publishes them in its OpenAPI schema. A serving's ``upload`` says what the form
  uploads: an ``image`` (the default) or a ``video`` (a clip, see :class:`Serving`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Generic,
    Iterable,
    Mapping,
    Protocol,
    TextIO,
    TypeVar,
    runtime_checkable,
)

from multimodal_rnn.errors import InputError

if TYPE_CHECKING:  # torch is imported by the code that runs a model, not by listing the tasks
    import torch
    from torch import nn

    from multimodal_rnn.checkpoint import Checkpoint
    from multimodal_rnn.registry import Registry

T = TypeVar("T")

ProgressFactory = Callable[[Iterable[T], int, str], Iterable[T]]
"""``progress(iterable, total, desc) -> iterable``: a progress bar (or the iterable itself); the
library calls it positionally or as ``progress(iterable, total=, desc=)``, as it calls ``tqdm``."""


def no_progress(iterable: Iterable[T], total: int, desc: str) -> Iterable[T]:
    """The :data:`ProgressFactory` that shows nothing."""
    return iterable


@dataclass(frozen=True)
class RunContext:
    """What an app lends a task command.

    Attributes:
        progress: progress bars.
        log: a sink for log lines (the CLI writes them to stderr).
        emit: a sink for result lines as they come, for interactive commands (stdout).
        stdin: lines typed or piped in, for interactive commands.
        interactive: whether progress bars are seen (stderr is a terminal); when not, long
            commands also write progress lines through ``log`` (training: every ``--log-every`` updates).
    """

    progress: ProgressFactory = no_progress
    log: Callable[[str], None] = lambda line: None
    emit: Callable[[str], None] = lambda line: None
    stdin: TextIO | None = None
    interactive: bool = False


@dataclass(frozen=True)
class Report:
    """What a task command has to say: ``lines`` for stdout, ``notes`` (skipped files, warnings)
    for stderr, and ``data``, a JSON-ready summary for ``--json`` output."""

    lines: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class TaskCommand(Protocol):
    """One ``mmrnn <verb> <task>`` command of a task."""

    help: str
    """One line for the verb's ``--help`` list."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the command's options (description and epilog included) on ``parser``."""

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        """Run with parsed arguments; user errors raise :class:`~multimodal_rnn.errors.MMRNNError`."""


@runtime_checkable
class Task(Protocol):
    """A task package's entry point (see the module docstring); its members are read-only."""

    @property
    def name(self) -> str:
        """The task's name: ``mmrnn train NAME``, the checkpoint header's ``task``, ``/v1/NAME``."""

    @property
    def summary(self) -> str:
        """One line about the task."""

    @property
    def models(self) -> Registry:
        """The task's registered models."""

    @property
    def shipped(self) -> Mapping[str, str]:
        """Shipped checkpoint file names (in :func:`multimodal_rnn.shipped.weights_dir`) by variant."""

    @property
    def commands(self) -> Mapping[str, TaskCommand]:
        """The task's commands, keyed by where they go (see the module docstring)."""

    @property
    def serving(self) -> Serving[Any, Any] | None:
        """How the server serves the task, or None."""

    @property
    def served(self) -> bool:
        """Whether :attr:`serving` is set, known without importing it (for ``mmrnn serve --help``)."""

    def load_predictor(self, path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> Any:
        """The task's predictor for the checkpoint at ``path``, on ``device``."""


class Predictor:
    """Base of every task's predictor: a model in eval mode and the checkpoint it came from.

    The device is always read from the model (:attr:`device`), never stored: move the model (or
    call :meth:`to`) and the predictor follows.
    """

    def __init__(self, model: nn.Module, *, checkpoint: Checkpoint | None = None,
                 device: str | torch.device | None = None) -> None:
        self.model = model.eval() if device is None else model.to(device).eval()
        self.checkpoint = checkpoint

    @property
    def device(self) -> torch.device:
        """Where the model's parameters (or, without any, its buffers) live."""
        for parameter in self.model.parameters():
            return parameter.device
        for buffer in self.model.buffers():
            return buffer.device
        import torch

        return torch.device("cpu")

    def to(self: "P", device: str | torch.device) -> "P":
        """Move the model to ``device``; returns ``self``."""
        self.model.to(device)
        return self


P = TypeVar("P", bound=Predictor)


class FieldError(InputError):
    """A form field a served task refuses; the message is one line that starts with the field's
    name (the server answers it with HTTP 422 ``{"error": message}``)."""


def check_text(text: str, *, field: str, max_chars: int, required: bool = True) -> str:
    """``text`` stripped, at most ``max_chars`` characters and (when ``required``) holding at least
    one word (:func:`multimodal_rnn.text.vocab.words`: a token with a letter or a digit, so ``"?!?"``
    is empty); else :class:`FieldError`."""
    from multimodal_rnn.text.vocab import words

    text = text.strip()
    if len(text) > max_chars:
        raise FieldError(f"{field}: {len(text)} characters, over the limit of {max_chars}")
    if required and not words(text):
        raise FieldError(f"{field}: empty (no words)")
    return text


@dataclass(frozen=True)
class ServingLimits:
    """The server's bounds on what one request may ask for; a task builds its form fields from them.

    Attributes:
        max_text_chars: longest question, caption or other text field, characters.
        max_history_rounds: most earlier rounds of a conversation.
        max_beam_size: largest beam size.
        max_top: most answers listed.
    """

    max_text_chars: int = 500
    max_history_rounds: int = 20
    max_beam_size: int = 10
    max_top: int = 20


_INTEGER = re.compile(r"\s*([+-]?[0-9]+(?:_[0-9]+)*)(?:\.0+)?\s*")
"""An integer form value: digits (``_`` between groups), an optional zero fraction, spaces around."""


@dataclass(frozen=True)
class FormField:
    """One multipart form field of a served task (the uploaded image or video is not listed).

    Attributes:
        name: the form key.
        description: one line for the OpenAPI schema.
        kind: ``int`` or ``str``, what the form's text is converted to.
        default: the value of a missing (or empty) field; None: the field is required.
        minimum, maximum: inclusive bounds of an ``int`` field.
        max_chars: makes a ``str`` field a text field, checked by :func:`check_text` (stripped, at
            most this many characters).
        words: a text field that must hold a word (a question); otherwise it may be empty.
        parse: turns a ``str`` field into what the request holds (e.g. a JSON history into
            rounds); it raises :class:`FieldError`.
    """

    name: str
    description: str
    kind: type[int] | type[str] = str
    default: int | str | None = None
    minimum: int | None = None
    maximum: int | None = None
    max_chars: int | None = None
    words: bool = False
    parse: Callable[[str], Any] | None = None

    def convert(self, raw: str | None) -> int | str:
        """The form's text (None when absent) as :attr:`kind`, or the default; the schema checks:
        required, an integer, within bounds. Raises :class:`FieldError`."""
        if raw is None or raw == "":
            if self.default is None:
                raise FieldError(f"{self.name}: Field required")
            return self.default
        if self.kind is str:
            return raw
        match = _INTEGER.fullmatch(raw)
        if match is None:
            raise FieldError(f"{self.name}: Input should be a valid integer, unable to parse string as an integer")
        value = int(match.group(1))
        if self.minimum is not None and value < self.minimum:
            raise FieldError(f"{self.name}: Input should be greater than or equal to {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise FieldError(f"{self.name}: Input should be less than or equal to {self.maximum}")
        return value

    def check(self, value: Any) -> Any:
        """A converted value's content checks: text through :func:`check_text`, then :attr:`parse`."""
        if isinstance(value, str) and self.max_chars is not None:
            value = check_text(value, field=self.name, max_chars=self.max_chars, required=self.words)
        return self.parse(value) if self.parse is not None and isinstance(value, str) else value

    def json_schema(self) -> dict[str, Any]:
        """The field as a JSON schema (OpenAPI 3.1) property."""
        schema: dict[str, Any] = {"type": "integer" if self.kind is int else "string", "description": self.description}
        if self.default is not None:
            schema["default"] = self.default
        for key, bound in (("minimum", self.minimum), ("maximum", self.maximum), ("maxLength", self.max_chars)):
            if bound is not None:
                schema[key] = bound
        return schema


RequestT = TypeVar("RequestT")
ResultT = TypeVar("ResultT")


def no_batching_key(predictor: Any, request: Any) -> Hashable:
    """The key of requests that can all share one forward pass."""
    return None


@dataclass(frozen=True)
class Serving(Generic[RequestT, ResultT]):
    """How a task is served over HTTP, at ``POST /v1/<task name>`` (see the module docstring).

    The predictor is the task's (:meth:`Task.load_predictor`). With ``upload="image"`` the form's
    file field is ``image`` and the predictor offers ``transform(image) -> (3, H, W)`` pixels, which
    the server applies to the uploaded image. With ``upload="video"`` the file field is ``video``
    and the predictor offers ``num_frames`` and ``clip_transform(clip) -> (T, 3, H, W)``: the server
    decodes the upload (:func:`multimodal_rnn.video.read_clip_bytes`, sampling ``num_frames``
    frames, within its limits) into a :class:`~multimodal_rnn.video.VideoClip`, hands
    ``clip_transform(clip)`` as the request's pixels and the clip itself as ``fields["video"]``
    (its ``frames`` make the answer's GIF,
    :func:`multimodal_rnn.video_figure.gif_base64`).

    Attributes:
        summary: one line for the route's OpenAPI entry.
        fields: the form fields besides the image, built from the server's limits.
        request: ``(validated fields by name, pixels (3, H, W)) -> request``.
        batch: ``(predictor, requests) -> one result per request``, one batched forward pass; the
            requests of one call share one :attr:`key`.
        to_json: ``(request, result) -> the route's JSON answer`` (the server adds ``"model"``).
        key: ``(predictor, request) -> batching key``; requests with different keys (e.g. beam
            sizes) are never batched together.
        upload: ``"image"`` or ``"video"``, the file the form uploads (see above).
    """

    summary: str
    fields: Callable[[ServingLimits], Sequence[FormField]]
    request: Callable[[Mapping[str, Any], torch.Tensor], RequestT]
    batch: Callable[[Any, Sequence[RequestT]], Sequence[ResultT]]
    to_json: Callable[[RequestT, ResultT], dict[str, Any]]
    key: Callable[[Any, RequestT], Hashable] = no_batching_key
    upload: str = "image"

    def __post_init__(self) -> None:
        if self.upload not in UPLOADS:
            raise ValueError(f"upload must be one of {', '.join(UPLOADS)}, got {self.upload!r}")


UPLOADS = ("image", "video")
"""What a served task's form uploads (:attr:`Serving.upload`); it is also the file field's name."""


def gif_field() -> FormField:
    """The ``gif`` field of a video route: 1 (default) answers with the annotated GIF, 0 without."""
    return FormField("gif", "1: answer with the clip as an annotated GIF (base64 in \"gif\"); 0: without (null)",
                     kind=int, default=1, minimum=0, maximum=1)


def attention_json(attention: torch.Tensor | None, labels: Sequence[str]) -> dict[str, Any] | None:
    """Attention maps (L, h, w) as ``{"grid": [h, w], "labels": [...], "maps": [[h*w floats], ...]}``
    (5 decimals), or None without attention."""
    if attention is None:
        return None
    maps = [[round(float(v), 5) for v in row.reshape(-1).tolist()] for row in attention]
    return {"grid": list(attention.shape[1:]), "labels": list(labels), "maps": maps}


def resolve(target: str) -> Any:
    """The object a ``"package.module:attribute.path"`` names, its module imported now."""
    module, _, path = target.partition(":")
    value: Any = importlib.import_module(module)
    for name in path.split(".") if path else ():
        value = getattr(value, name)
    return value


class TaskSpec:
    """A plain :class:`Task`: the fields, and ``load_predictor`` delegated to ``predictor_loader``.

    ``models``, ``predictor_loader`` and ``serving`` may be given as ``"package.module:attribute"``
    paths (:func:`resolve`), imported on first use: a task package that names its models,
    predictor and serving spec this way is listed, and its commands' parsers are built, without
    importing torch. ``served`` says whether there is a serving spec without importing it.
    """

    def __init__(self, *, name: str, summary: str, models: Registry | str, predictor_loader: Callable[..., Any] | str,
                 shipped: Mapping[str, str] | None = None, commands: Mapping[str, TaskCommand] | None = None,
                 serving: Serving[Any, Any] | str | None = None) -> None:
        self._name, self._summary = name, summary
        self._shipped: Mapping[str, str] = dict(shipped or {})
        self._commands: Mapping[str, TaskCommand] = dict(commands or {})
        self._lazy: dict[str, Any] = {"models": models, "predictor_loader": predictor_loader, "serving": serving}

    def _member(self, key: str) -> Any:
        value = self._lazy[key]
        if isinstance(value, str):
            value = self._lazy[key] = resolve(value)
        return value

    @property
    def name(self) -> str:
        return self._name

    @property
    def summary(self) -> str:
        return self._summary

    @property
    def models(self) -> Registry:
        """The task's registry (imported on first use when given as a path)."""
        registry: Registry = self._member("models")
        return registry

    @property
    def predictor_loader(self) -> Callable[..., Any]:
        """``loader(path, device=...) -> predictor`` (imported on first use when given as a path)."""
        loader: Callable[..., Any] = self._member("predictor_loader")
        return loader

    @property
    def shipped(self) -> Mapping[str, str]:
        return self._shipped

    @property
    def commands(self) -> Mapping[str, TaskCommand]:
        return self._commands

    @property
    def served(self) -> bool:
        """Whether the task has a serving spec (known without importing it)."""
        return self._lazy["serving"] is not None

    @property
    def serving(self) -> Serving[Any, Any] | None:
        """The serving spec (imported on first use when given as a path), or None."""
        serving: Serving[Any, Any] | None = self._member("serving")
        return serving

    def load_predictor(self, path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> Any:
        """The task's predictor for the checkpoint at ``path``, on ``device``."""
        return self.predictor_loader(path, device=device)

    def __repr__(self) -> str:
        return f"TaskSpec(name={self._name!r})"
