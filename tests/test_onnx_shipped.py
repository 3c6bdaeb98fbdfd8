"""The shipped models exported: PyTorch's captions and answers on the whole shapes test split (slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from apps.cli import main
from multimodal_rnn.datasets.captions import read_coco_captions
from multimodal_rnn.datasets.vqa import read_vqa, shapes_source
from multimodal_rnn.images import load_image
from multimodal_rnn.runtime.caption import ExportedCaptioner
from multimodal_rnn.runtime.vqa import ExportedAnswerer
from multimodal_rnn.shipped import weights_dir
from multimodal_rnn.tasks.caption.predictor import Captioner
from multimodal_rnn.tasks.vqa.predictor import Answerer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("shapes")
    assert main(["data", "shapes", "--out", str(folder)]) == 0  # the default world: its test split
    return folder


@pytest.mark.parametrize("beam", [1, 3])
def test_exported_shipped_captions_equal_pytorch_on_the_test_split(shapes: Path, tmp_path: Path, beam: int) -> None:
    assert main(["export", "caption", "--out", str(tmp_path / "caption")]) == 0
    records = read_coco_captions(shapes / "captions_test.json", shapes / "images" / "test")
    images = [load_image(record.path) for record in records]
    expected = Captioner.from_checkpoint(weights_dir() / "caption_shapes.safetensors").caption(images, beam_size=beam)
    got = ExportedCaptioner(tmp_path / "caption").caption(images, beam_size=beam)
    assert [result.words for result in got] == [result.words for result in expected]
    assert max(abs(mine.score - theirs.score) for mine, theirs in zip(got, expected)) < 1e-4


def test_exported_shipped_vqa_answers_equal_pytorch_on_the_test_split(shapes: Path, tmp_path: Path) -> None:
    assert main(["export", "vqa", "--out", str(tmp_path / "vqa")]) == 0
    source = shapes_source(shapes, "test")
    records = read_vqa(source.questions, source.annotations, source.images_dir, image_pattern=source.image_pattern)
    expected = Answerer.from_checkpoint(weights_dir() / "vqa_shapes.safetensors").answer_records(records, load_image)
    exported = ExportedAnswerer(tmp_path / "vqa")
    got = []
    for start in range(0, len(records), 50):
        chunk = records[start : start + 50]
        pixels = exported.transform.batch([load_image(record.image_path) for record in chunk])
        results = exported.answer_arrays(pixels, np.arange(len(chunk)), [record.question for record in chunk])
        got.extend(result.answers[0][0] for result in results)
    assert got == expected.answers
