"""``mmrnn serve`` on the command line: options, weight selection errors, and a real server process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from apps.cli import build_parser, main
from apps.commands.serve import weight_paths
from multimodal_rnn.errors import InputError
from multimodal_rnn.shipped import resolve_weights
from multimodal_rnn.tasks import TASKS

REPO = Path(__file__).resolve().parent.parent
IMAGE = REPO / "data" / "samples" / "shapes_test_1.png"


def shipped_weights(task: str) -> Path:
    """The shipped checkpoint of ``task``, as the commands find it."""
    return resolve_weights(None, TASKS[task].shipped, task=task)


def test_defaults_bind_loopback():
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.max_batch_size, args.no_batching) == ("127.0.0.1", 8000, 32, False)


def test_weight_paths_defaults_and_overrides(tmp_path):
    assert weight_paths("caption,vqa", []) == {"caption": shipped_weights("caption"),
                                               "vqa": shipped_weights("vqa")}
    custom = tmp_path / "mine.safetensors"
    custom.write_bytes(shipped_weights("caption").read_bytes())
    assert weight_paths("caption", [f"caption={custom}"]) == {"caption": custom}
    served = ("caption", "vqa", "dialog", "action", "frames", "video_caption")
    assert weight_paths(None, []) == {task: shipped_weights(task) for task in served}


@pytest.mark.parametrize("tasks,weights,message", [
    ("caption,nav", [], "unknown or no task"),
    (" , ", [], "unknown or no task"),
    ("caption", ["caption"], "expected TASK=FILE"),
    ("caption", ["tagging=x.safetensors"], "expected TASK=FILE"),
    ("caption", ["caption=/no/such/file.safetensors"], "no such checkpoint file"),
])
def test_weight_paths_errors(tasks, weights, message):
    with pytest.raises(InputError, match=message):
        weight_paths(tasks, weights)


def test_bad_weights_give_a_one_line_error(capsys):
    assert main(["serve", "--weights", "caption=/no/such/file.safetensors", "--tasks", "caption"]) == 2
    assert capsys.readouterr().err.strip() == "mmrnn: error: /no/such/file.safetensors: no such checkpoint file"


@pytest.mark.slow  # a fresh Python process imports torch: several seconds
def test_serve_command_answers_on_loopback():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "apps.cli", "serve", "--port", str(port), "--tasks", "caption",
                                "--threads", "1"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read()
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not start within 60 s"
                time.sleep(0.1)
        assert health.json()["tasks"] == ["caption"]
        response = httpx.post(f"http://127.0.0.1:{port}/v1/caption", files={"image": ("a.png", IMAGE.read_bytes())},
                              data={"beam_size": "3"}, timeout=30)
        assert response.status_code == 200 and response.json()["caption"]
        vqa = httpx.post(f"http://127.0.0.1:{port}/v1/vqa", files={"image": ("a.png", IMAGE.read_bytes())},
                         data={"question": "is there a circle?"}, timeout=30)
        assert vqa.status_code == 503
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert f"Uvicorn running on http://127.0.0.1:{port}" in output
