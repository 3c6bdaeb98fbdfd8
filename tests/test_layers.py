"""The import structure of the package (docs/architecture.md, "Layers"): no import cycle anywhere,
the layer contracts of ``.importlinter``, and apps that use only the public API."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp", reason="the layer checks need import-linter (pip install import-linter)")

ROOT = Path(__file__).resolve().parent.parent

PUBLIC_API: dict[str, str] = {
    "multimodal_rnn": "__version__ and the entry points the package root defines",
    "multimodal_rnn.errors": "MMRNNError and the one-line user errors the apps report",
    "multimodal_rnn.tasks": "TASKS (every task, in CLI order), MODELS (every registered model), Task",
    "multimodal_rnn.tasks.protocol": "Task, TaskSpec, TaskCommand, RunContext, Report, Predictor, Serving, FormField, "
    "ServingLimits, FieldError, check_text",
    "multimodal_rnn.checkpoint": "read_header, load_model: checkpoints are data the server lists and loads",
    "multimodal_rnn.files": "read_json, write_json, atomic_write: JSON files with one-line errors, written atomically",
    "multimodal_rnn.options": "int_range, float_range, positive_int, beam_size, ...: the value ranges of options; "
    "add_output_argument, check_outputs: output paths checked before a command starts",
    "multimodal_rnn.images": "load_image, load_image_bytes, DEFAULT_MAX_PIXELS: the user's image, with size limits",
    "multimodal_rnn.video": "read_clip, read_clip_bytes, probe_video, write_clip, VideoClip, VideoLimits, "
    "DEFAULT_LIMITS: the user's video, with limits",
    "multimodal_rnn.shipped": "weights_dir, resolve_weights: the weights that ship with the package",
    "multimodal_rnn.training.launch": "torchrun_process_group, is_main_process: the app joins torchrun's process group",
    "multimodal_rnn.datasets.shapes": "ShapesConfig, generate_shapes_world, MAX_OBJECTS, MIN_IMAGE_SIZE, "
    "MAX_IMAGE_SIZE: the built-in synthetic world",
    "multimodal_rnn.datasets.moving_shapes": "MovingShapesConfig, generate_moving_shapes, ACTION_CLASSES, "
    "MOTION_CLASSES, FRAME_LABELS, MIN_FRAMES, MAX_FRAMES, MIN_FRAME_SIZE, MAX_FRAME_SIZE, MAX_FPS: the built-in "
    "synthetic video world",
}
"""The modules ``apps/`` may import, with what they offer (docs/architecture.md lists the same)."""


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    import multimodal_rnn

    assert Path(multimodal_rnn.__file__).resolve().parent == ROOT / "multimodal_rnn", "not this checkout's package"
    return grimp.build_graph("multimodal_rnn", "apps", cache_dir=None)


def strongly_connected_components(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(edges.get(successor, ())))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def test_the_cycle_finder_finds_cycles() -> None:
    edges = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": ["e"], "e": ["d"], "f": ["a"]}
    assert sorted(strongly_connected_components(edges)) == [["a", "b", "c"], ["d", "e"]]
    assert strongly_connected_components({"a": ["b"], "b": []}) == []


def _edges(graph: grimp.ImportGraph, collapse: int | None = None) -> dict[str, set[str]]:
    def name(module: str) -> str:
        return module if collapse is None else ".".join(module.split(".")[:collapse])

    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if name(module) != name(imported):
                edges.setdefault(name(module), set()).add(name(imported))
    return edges


def test_no_import_cycles_between_modules(graph: grimp.ImportGraph) -> None:
    cycles = strongly_connected_components(_edges(graph))
    assert not cycles, "modules that import each other (directly or around a cycle): " + "; ".join(
        " <-> ".join(c) for c in cycles
    )


def test_no_import_cycles_between_packages(graph: grimp.ImportGraph) -> None:
    """Top-level packages (``multimodal_rnn.datasets``, ``apps.commands``...) form no cycle either."""
    cycles = strongly_connected_components(_edges(graph, collapse=2))
    assert not cycles, "packages that import each other: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_import_contracts_are_kept() -> None:
    """The layer contracts of ``.importlinter`` (the same run as ``lint-imports .importlinter``)."""
    pytest.importorskip("importlinter.api")  # configures import-linter
    from importlinter.application import use_cases

    kept = use_cases.lint_imports(str(ROOT / ".importlinter"), cache_dir=None, no_logo=True)
    assert kept, "an import contract of .importlinter is broken (the report above names the import)"


def _app_imports_of_internals(graph: grimp.ImportGraph) -> set[tuple[str, str]]:
    found = set()
    for module in graph.find_descendants("apps") | {"apps"}:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.split(".")[0] == "multimodal_rnn" and imported not in PUBLIC_API:
                found.add((module, imported))
    return found


def test_apps_use_only_the_public_api(graph: grimp.ImportGraph) -> None:
    new = sorted(_app_imports_of_internals(graph))
    assert not new, (
        "apps import internals of the package; use the public API (tests/test_layers.py PUBLIC_API, "
        "docs/architecture.md) or give the task a command: " + ", ".join(f"{a} -> {b}" for a, b in new)
    )


def test_public_api_modules_exist(graph: grimp.ImportGraph) -> None:
    assert sorted(set(PUBLIC_API) - graph.modules) == []
