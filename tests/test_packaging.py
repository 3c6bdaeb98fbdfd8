"""The wheel: only ``multimodal_rnn`` at the top level, the apps and the shipped weights inside it,
and an unpacked wheel that finds its weights and captions from any directory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import multimodal_rnn
from multimodal_rnn.shipped import weights_dir

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "README.md", "multimodal_rnn", "apps", "weights")
FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"
IMAGE = REPO / "data" / "samples" / "shapes_test_1.png"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built offline (no index, no build isolation) from a copy of the sources, so no stale
    ``build/`` folder of the checkout leaks into it and the checkout stays clean."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(REPO / name, source / name)
    env = {**os.environ, "MMRNN_BUILD_COMMIT": FAKE_COMMIT, "PIP_NO_INDEX": "1"}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
                    "--wheel-dir", str(root / "dist"), str(source)], check=True, env=env, capture_output=True)
    (built,) = (root / "dist").glob("multimodal_rnn-*.whl")
    return built


def test_wheel_holds_only_the_package_with_its_apps_and_weights(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        sizes = {info.filename: info.file_size for info in archive.infolist()}
        entry_points = archive.read(f"multimodal_rnn-{multimodal_rnn.__version__}.dist-info/entry_points.txt").decode()
        commit = archive.read("multimodal_rnn/BUILD_COMMIT").decode().strip()
        sources = {name: archive.read(name).decode("utf-8") for name in sizes if name.endswith(".py")}
    assert {name.split("/")[0] for name in sizes} == {"multimodal_rnn", f"multimodal_rnn-{multimodal_rnn.__version__}.dist-info"}
    shipped = sorted((REPO / "weights").glob("*.safetensors"))
    assert len(shipped) == 8
    for path in [*shipped, *(REPO / "weights").glob("*.card.json"), REPO / "weights" / "README.md"]:
        assert sizes.get(f"multimodal_rnn/weights/{path.name}") == path.stat().st_size, path.name
    for path in (REPO / "apps" / "server" / "static").iterdir():
        assert f"multimodal_rnn/apps/server/static/{path.name}" in sizes
    for path in [*(REPO / "apps").rglob("*.py"), *(REPO / "multimodal_rnn").rglob("*.py")]:
        relative = path.relative_to(REPO).as_posix()
        inside = "multimodal_rnn/" + relative if relative.startswith("apps/") else relative
        assert inside in sources, f"{relative} is not in the wheel"
    assert re.search(r"^mmrnn = multimodal_rnn\.apps\.cli:main$", entry_points, flags=re.MULTILINE)
    assert commit == FAKE_COMMIT


def test_apps_import_each_other_relatively(wheel: Path) -> None:
    """Installed, the apps are ``multimodal_rnn.apps``: an ``import apps...`` would fail there."""
    with zipfile.ZipFile(wheel) as archive:
        absolute = [name for name in archive.namelist() if name.endswith(".py")
                    and re.search(r"^\s*(from|import) apps\b", archive.read(name).decode("utf-8"), re.MULTILINE)]
    assert absolute == [], "use relative imports inside apps/ (from .x import y, from ..x import y)"


def test_source_tree_finds_the_repository_weights() -> None:
    assert weights_dir() == REPO / "weights"


def _unpacked(wheel: Path, tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """``(site, cwd, env)``: the wheel unpacked into ``site`` (what pip does with a pure-Python
    wheel) and a process environment that imports it from an unrelated working directory."""
    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    env.pop("MMRNN_WEIGHTS_DIR", None)
    return site, elsewhere, env


def _python(code: str, *args: str, cwd: Path, env: dict[str, str]) -> list[str]:
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_unpacked_wheel_finds_its_weights_cards_and_commit(wheel: Path, tmp_path: Path) -> None:
    """Fast (no torch import): the installed package, its weights folder, a card and the baked commit."""
    site, elsewhere, env = _unpacked(wheel, tmp_path)
    code = ("import sys, multimodal_rnn\n"
            "from multimodal_rnn.build_info import git_commit\n"
            "from multimodal_rnn.shipped import read_card, weights_dir\n"
            "print(multimodal_rnn.__file__, weights_dir(), git_commit(), sep='\\n')\n"
            "print(read_card(weights_dir() / 'caption_shapes.safetensors')['sha256'])\n"
            "print('torch' in sys.modules)\n")
    package, weights, commit, sha256, torch_imported = _python(code, cwd=elsewhere, env=env)
    assert Path(package) == site / "multimodal_rnn" / "__init__.py"
    assert Path(weights) == site / "multimodal_rnn" / "weights"
    assert commit == FAKE_COMMIT
    assert len(sha256) == 64 and torch_imported == "False"


@pytest.mark.slow  # two fresh processes import torch: about 15 s on a busy 2-core machine
def test_unpacked_wheel_captions_from_any_directory(wheel: Path, tmp_path: Path) -> None:
    _, elsewhere, env = _unpacked(wheel, tmp_path)
    code = ("import sys, multimodal_rnn\n"
            "from multimodal_rnn.images import load_image\n"
            "from multimodal_rnn.shipped import weights_dir\n"
            "captioner = multimodal_rnn.load_predictor(weights_dir() / 'caption_shapes.safetensors')\n"
            "print(captioner.caption([load_image(sys.argv[1])], beam_size=3)[0].caption)\n")
    assert _python(code, str(IMAGE), cwd=elsewhere, env=env) == ["a large blue square on a gray background"]
    cli = subprocess.run([sys.executable, "-m", "multimodal_rnn.apps.cli", "--help"], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and "serve" in cli.stdout, cli.stderr


def test_bare_import_loads_any_shipped_model_and_predictor() -> None:
    """``import multimodal_rnn`` alone (torch not imported until asked) loads a model and the right predictor."""
    code = ("import sys, multimodal_rnn\n"
            "assert 'torch' not in sys.modules\n"
            "model, checkpoint = multimodal_rnn.load_model(sys.argv[1])\n"
            "print(type(model).__name__, checkpoint.model_name, model.training)\n"
            "print(type(multimodal_rnn.load_predictor(sys.argv[2])).__name__)\n"
            "print(' '.join(multimodal_rnn.TASKS))\n")
    lines = _python(code, str(REPO / "weights" / "vqa_shapes.safetensors"),
                    str(REPO / "weights" / "dialog_shapes.safetensors"), cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"})
    tasks = "caption vqa dialog navigation action frames video_caption"
    assert lines == ["RelationalSAAA saaa_rel False", "DialogAgent", tasks]
