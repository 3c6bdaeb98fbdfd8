"""Bad-input corpus cases, part 2: FIFOs and devices, paths, oversized evaluation input (see
tests/test_bad_input_corpus.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from tests.bad_inputs import Case, Workspace, case, make_fifo, make_socket, sparse_file, write_image

# --- FIFOs, devices, sockets ----------------------------------------------------------------------


@case("FIFOs and devices", "FIFO as image")
def _fifo_image(ws: Workspace) -> tuple[list[str], str]:
    path = make_fifo(ws.root / "image-fifo.png")
    return ws.caption(path), str(path)


@case("FIFOs and devices", "FIFO as weights")
def _fifo_weights(ws: Workspace) -> tuple[list[str], str]:
    path = make_fifo(ws.root / "weights-fifo.safetensors")
    return ws.caption(ws.image, weights=path), str(path)


@case("FIFOs and devices", "FIFO as results")
def _fifo_results(ws: Workspace) -> tuple[list[str], str]:
    path = make_fifo(ws.root / "results-fifo.json")
    return ws.eval_caption(path), str(path)


@case("FIFOs and devices", "FIFO as VQA questions")
def _fifo_questions(ws: Workspace) -> tuple[list[str], str]:
    path = make_fifo(ws.root / "questions-fifo.json")
    return ws.eval_vqa(path), str(path)


@case("FIFOs and devices", "FIFO as dialogs")
def _fifo_dialogs(ws: Workspace) -> tuple[list[str], str]:
    path = make_fifo(ws.root / "dialogs-fifo.json")
    return ws.eval_dialog(path), str(path)


@case("FIFOs and devices", "FIFO as --attention-map output")
def _fifo_output(ws: Workspace) -> tuple[list[str], str]:
    path = make_fifo(ws.root / "out-fifo.png")
    return ws.caption(ws.image, "--attention-map", str(path)), str(path)


@case("FIFOs and devices", "FIFO as eval --out")
def _fifo_eval_out(ws: Workspace) -> tuple[list[str], str]:
    path = make_fifo(ws.root / "eval-out-fifo.json")
    return ws.eval_caption(None, None, "--out", str(path)), str(path)


for _name, _device, _slot in [
    ("/dev/zero as image", "/dev/zero", "image"),
    ("/dev/zero as weights", "/dev/zero", "weights"),
    ("/dev/null as image", "/dev/null", "image"),
    ("/dev/urandom as results", "/dev/urandom", "results"),
    ("/dev/zero as annotations", "/dev/zero", "annotations"),
]:

    def _dev(ws: Workspace, device: str = _device, slot: str = _slot) -> tuple[list[str], str]:
        if slot == "image":
            return ws.caption(device), device
        if slot == "weights":
            return ws.caption(ws.image, weights=device), device
        return (ws.eval_caption(Path(device)) if slot == "results" else ws.eval_caption(None, Path(device))), device

    case("FIFOs and devices", _name)(_dev)


@case("FIFOs and devices", "a link to /dev/null as eval --out")
def _device_out(ws: Workspace) -> tuple[list[str], str]:
    link = ws.root / "null-link.json"  # a link: a regression that renames over it cannot replace /dev/null itself
    link.symlink_to("/dev/null")
    return ws.eval_caption(None, None, "--out", str(link)), str(link)


@case("FIFOs and devices", "UNIX socket as image")
def _socket(ws: Workspace) -> tuple[list[str], str]:
    path, server = make_socket(ws.root / "s.png")
    ws.sockets.append(server)
    return ws.caption(path), str(path)


# --- paths ----------------------------------------------------------------------------------------

for _name, _make_argv in {
    "directory as image": lambda ws: (ws.caption(ws.root), str(ws.root)),
    "directory as weights": lambda ws: (ws.caption(ws.image, weights=ws.root), str(ws.root)),
    "directory as results": lambda ws: (ws.eval_caption(ws.root), str(ws.root)),
    "directory as VQA annotations": lambda ws: (ws.eval_vqa(None, ws.root), str(ws.root)),
    "missing image": lambda ws: (ws.caption(ws.root / "absent.png"), str(ws.root / "absent.png")),
    "missing weights": lambda ws: (ws.caption(ws.image, weights=ws.root / "absent.safetensors"), "absent.safetensors"),
    "missing results": lambda ws: (ws.eval_caption(ws.root / "absent.json"), "absent.json"),
    "image in a missing folder": lambda ws: (ws.caption(ws.root / "no" / "dir" / "x.png"), "x.png"),
    "image under a file": lambda ws: (ws.caption(ws.image / "x.png"), "x.png"),
    "--attention-map is a directory": lambda ws: (ws.caption(ws.image, "--attention-map", str(ws.root)), str(ws.root)),
    "--attention-map x.bmpx": lambda ws: (ws.caption(ws.image, "--attention-map", str(ws.root / "x.bmpx")), "x.bmpx"),
    "--attention-map without extension": lambda ws: (
        ws.caption(ws.image, "--attention-map", str(ws.root / "att")),
        "att",
    ),
    "--attention-map into /proc": lambda ws: (ws.caption(ws.image, "--attention-map", "/proc/mmrnn-att.png"), "/proc"),
    "--attention-map under a file": lambda ws: (
        ws.caption(ws.image, "--attention-map", str(ws.image / "att.png")),
        "att.png",
    ),
    "data shapes --out /proc/x": lambda ws: (["data", "shapes", "--out", "/proc/mmrnn-x"], "/proc/mmrnn-x"),
    "data shapes --out a file": lambda ws: (["data", "shapes", "--out", str(ws.image)], str(ws.image)),
    "data shapes-video --out /proc/x": lambda ws: (["data", "shapes-video", "--out", "/proc/mmrnn-x"], "/proc/mmrnn-x"),
    "data shapes-video --out a file": lambda ws: (["data", "shapes-video", "--out", str(ws.image)], str(ws.image)),
    "train caption --out a file": lambda ws: (["train", "caption", "--out", str(ws.image)], str(ws.image)),
    "train vqa --out under a file": lambda ws: (["train", "vqa", "--out", str(ws.image / "run")], "run"),
    "predict caption --out a directory": lambda ws: (
        ["predict", "caption", "--out", str(ws.root), "--images", str(ws.root)],
        str(ws.root),
    ),
    "predict vqa --out a directory": lambda ws: (["predict", "vqa", "--out", str(ws.root)], str(ws.root)),
    "predict dialog --out /proc": lambda ws: (["predict", "dialog", "--out", "/proc/mmrnn.json"], "/proc"),
    "eval caption --out a directory": lambda ws: (ws.eval_caption(None, None, "--out", str(ws.root)), str(ws.root)),
    "eval vqa --out /proc": lambda ws: (ws.eval_vqa(None, None, None, "--out", "/proc/x/y.json"), "/proc/x/y.json"),
    "eval dialog --out a directory": lambda ws: (ws.eval_dialog(None, None, "--out", str(ws.root)), str(ws.root)),
    "navigate --render x.png": lambda ws: (["navigate", "--render", str(ws.root / "x.png")], "x.png"),
    "data babyai-demos --out x.txt": lambda ws: (
        [
            "data",
            "babyai-demos",
            "--level",
            "BabyAI-GoToRedBall-v0",
            "--episodes",
            "1",
            "--out",
            str(ws.root / "x.txt"),
        ],
        "x.txt",
    ),
}.items():
    case("paths", _name)(_make_argv)


def _unreadable(make: Callable[[Workspace], Path], argv: Callable[[Workspace, Path], list[str]]) -> Case:
    def run(ws: Workspace) -> tuple[list[str], str]:
        path = make(ws)
        os.chmod(path, 0)
        return argv(ws, path), f"{path}: cannot read"

    return run


case("paths", "image without read permission")(
    _unreadable(lambda ws: write_image(ws.root / "locked.png"), lambda ws, path: ws.caption(path))
)
case("paths", "weights without read permission")(
    _unreadable(
        lambda ws: ws.weights.raw("locked", ws.weights.good.read_bytes()),
        lambda ws, path: ws.caption(ws.image, weights=path),
    )
)
case("paths", "results without read permission")(
    _unreadable(
        lambda ws: ws.file("locked.json", ws.caption_files[0].read_text()), lambda ws, path: ws.eval_caption(path)
    )
)

PERMISSION_CASES = {
    "image without read permission",
    "weights without read permission",
    "results without read permission",
}


# --- oversized evaluation input -------------------------------------------------------------------


def _results_with(ws: Workspace, name: str, caption: str) -> tuple[list[str], str]:
    entries = json.loads(ws.caption_files[0].read_text())
    entries[0]["caption"] = caption
    path = ws.file(name, json.dumps(entries))
    return ws.eval_caption(path), f"{path}: caption of image_id {entries[0]['image_id']}"


case("oversized eval input", "caption of 20,000 characters")(
    lambda ws: _results_with(ws, "long-chars.json", "a" * 20_000)
)
case("oversized eval input", "caption of 2,000 words")(lambda ws: _results_with(ws, "long-words.json", "a " * 2_000))
case("oversized eval input", "caption of 1 MB")(lambda ws: _results_with(ws, "long-mb.json", "dog " * 250_000))


@case("oversized eval input", "reference caption of 20,000 characters")
def _long_reference(ws: Workspace) -> tuple[list[str], str]:
    data = json.loads(ws.caption_files[1].read_text())
    data["annotations"][0]["caption"] = "b" * 20_000
    path = ws.file("long-reference.json", json.dumps(data))
    return ws.eval_caption(None, path), f"{path}: caption of image_id {data['annotations'][0]['image_id']}"


@case("oversized eval input", "VQA answer of 20,000 characters")
def _long_answer(ws: Workspace) -> tuple[list[str], str]:
    entries = json.loads(ws.vqa_files[2].read_text())
    entries[0]["answer"] = "yes" * 7000
    path = ws.file("long-answer.json", json.dumps(entries))
    return ws.eval_vqa(None, None, path), f"{path}: answer of question_id {entries[0]['question_id']}"


@case("oversized eval input", "results file over 256 MiB (sparse)")
def _huge_results(ws: Workspace) -> tuple[list[str], str]:
    path = sparse_file(ws.root / "huge-results.json", 300 * 2**20)
    return ws.eval_caption(path), str(path)


@case("oversized eval input", "VQA results over 256 MiB (sparse)")
def _huge_vqa_results(ws: Workspace) -> tuple[list[str], str]:
    path = sparse_file(ws.root / "huge-vqa-results.json", 300 * 2**20)
    return ws.eval_vqa(None, None, path), str(path)


@case("oversized eval input", "annotations over 2 GiB (sparse)")
def _huge_annotations(ws: Workspace) -> tuple[list[str], str]:
    path = sparse_file(ws.root / "huge-annotations.json", 2**31 + 1)
    return ws.eval_caption(None, path), str(path)


@case("oversized eval input", "dialog submission over 256 MiB (sparse)")
def _huge_submission(ws: Workspace) -> tuple[list[str], str]:
    path = sparse_file(ws.root / "huge-submission.json", 300 * 2**20)
    return ws.eval_dialog(None, path), str(path)
