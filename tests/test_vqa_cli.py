"""VQA from the command line: ``mmrnn ask`` output and errors, train/predict on the shapes world and
on a second VQA-format dataset built here from scratch (48x48 images, other answers, other file names)."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image, ImageDraw
from safetensors.torch import load_file

from apps.cli import main
from multimodal_rnn.checkpoint import read_header, save_checkpoint
from multimodal_rnn.datasets.shapes.world import ShapesConfig, generate_shapes_world
from multimodal_rnn.datasets.vqa import AnswerVocabulary, VQARecord, build_question_vocabulary
from multimodal_rnn.metrics.vqa import evaluate_vqa
from multimodal_rnn.tasks import MODELS, TASKS

COMMON = {"embed_size": 16, "hidden_size": 16, "classifier_size": 16, "num_layers": 1,
          "encoder": {"channels": [8, 8, 16], "image_size": 48}}
TINY_BY_MODEL = {"saaa": {**COMMON, "attention_size": 16}, "lstm_q_norm_i": {**COMMON, "fusion_size": 16}}
TINY = TINY_BY_MODEL["saaa"]  # the default model of mmrnn train vqa
TINY_FLAGS = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={json.dumps(value)}")]


def _weights(tmp_path: Path, name: str = "saaa") -> Path:
    torch.manual_seed(0)
    records = [VQARecord(1, 1, "what color is the circle?", "", ("red",) * 10),
               VQARecord(2, 1, "is there a square?", "", ("no",) * 10), VQARecord(3, 2, "how many?", "", ("2",) * 10)]
    vocab, answers = build_question_vocabulary(records), AnswerVocabulary.build(records)
    model = MODELS.build(name, {**TINY_BY_MODEL[name], "num_words": len(vocab), "num_answers": len(answers)})
    path = tmp_path / f"{name}.safetensors"
    save_checkpoint(path, model, task="vqa", model_name=name, model_config=model.config, vocab=vocab.to_dict(),
                    answers=list(answers.answers))
    return path


def test_the_task_brings_its_commands() -> None:
    assert set(TASKS["vqa"].commands) == {"ask", "train", "predict", "eval", "export"}


@pytest.fixture()
def image(tmp_path: Path) -> Path:
    path = tmp_path / "scene.png"
    picture = Image.new("RGB", (64, 64), (220, 220, 220))
    ImageDraw.Draw(picture).ellipse((10, 10, 30, 30), fill=(215, 40, 40))
    picture.save(path)
    return path


def test_ask_prints_top_answers_json_and_attention_map(tmp_path: Path, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = _weights(tmp_path)
    assert main(["ask", str(image), "what color is the circle?", "--weights", str(weights), "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.split()[0] in ("red", "no", "2") for line in lines)
    assert float(lines[0].split()[-1]) >= float(lines[1].split()[-1])
    out_map = tmp_path / "where.png"
    assert main(["ask", str(image), "is there a hexagon?", "--weights", str(weights), "--json",
                 "--attention-map", str(out_map)]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["question"] == "is there a hexagon?" and [a["answer"] for a in answer["answers"]] != []
    assert sorted(a["answer"] for a in answer["answers"]) == ["2", "no", "red"]  # --top 5 > 3 answers: all of them
    assert Image.open(out_map).size == (3 * 160, 160 + 18)  # the image and its 2 glimpses, no empty tiles
    long_question = "is there a square " * 600  # ~10,000 characters: cut to the model's max length
    assert main(["ask", str(image), long_question, "--weights", str(weights), "--top", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_ask_reads_the_question_from_stdin(tmp_path: Path, image: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    weights = _weights(tmp_path)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO("how many circles?\n".encode())))
    assert main(["ask", str(image), "-", "--weights", str(weights), "--top", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"how many \xff circles?")))
    assert main(["ask", str(image), "-", "--weights", str(weights)]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8" in err and err.count("\n") == 1


def test_ask_errors_are_one_line_with_exit_status_2(tmp_path: Path, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = _weights(tmp_path)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    no_attention = _weights(tmp_path, "lstm_q_norm_i")
    cases = [
        ([str(image), "", "--weights", str(weights)], "question is empty"),
        ([str(image), "   ", "--weights", str(weights)], "question is empty"),
        ([str(image), "?", "--weights", str(weights)], "question is empty"),
        ([str(image), "what \udcff is it?", "--weights", str(weights)], "not UTF-8"),
        ([str(text), "what is it?", "--weights", str(weights)], "not an image"),
        ([str(tmp_path / "absent.png"), "what is it?", "--weights", str(weights)], "no such file"),
        ([str(image), "what is it?", "--weights", str(text)], "not a readable safetensors checkpoint"),
        ([str(image), "what is it?", "--weights", str(no_attention), "--attention-map", str(tmp_path / "a.png")],
         "has no attention"),
    ]
    for arguments, message in cases:
        assert main(["ask", *arguments]) == 2, arguments
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (arguments, err)


def test_train_predict_and_evaluate_on_a_tiny_shapes_world(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shapes = tmp_path / "shapes"
    generate_shapes_world(shapes, ShapesConfig(train_size=16, val_size=4, test_size=4, seed=5))
    assert main(["train", "vqa", "--shapes-dir", str(shapes), "--out", str(tmp_path / "run"), "--epochs", "2",
                 "--batch-size", "4", "--warmup-steps", "1", *TINY_FLAGS]) == 0
    header = read_header(tmp_path / "run" / "best.safetensors")
    assert header["task"] == "vqa" and header["model_name"] == "saaa" and "accuracy_yesno" in header["metrics"]
    split = ["train", "vqa", "--shapes-dir", str(shapes), "--out", str(tmp_path / "split"), "--epochs", "2",
             "--batch-size", "4", "--warmup-steps", "1", *TINY_FLAGS]
    assert main([*split, "--max-steps", "5"]) == 0 and main([*split, "--resume"]) == 0
    full, resumed = load_file(str(tmp_path / "run" / "last.safetensors")), load_file(str(tmp_path / "split" / "last.safetensors"))
    assert full.keys() == resumed.keys() and all(torch.allclose(full[k], resumed[k], atol=1e-6) for k in full)
    assert "yes" in header["answers"] and header["vocab"]["tokens"][:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    results = tmp_path / "results.json"
    assert main(["predict", "vqa", "--shapes-dir", str(shapes), "--weights", str(tmp_path / "run" / "best.safetensors"),
                 "--out", str(results)]) == 0
    evaluation = evaluate_vqa(shapes / "vqa_questions_test.json", shapes / "vqa_annotations_test.json", results)
    assert evaluation.num_questions == 20 and set(evaluation.per_answer_type) == {"other", "number", "yes/no"}
    capsys.readouterr()
    assert main(["train", "vqa", "--shapes-dir", str(shapes), "--out", str(tmp_path / "bad"), "--set", "glimpse=3"]) == 2
    assert "unknown key(s) glimpse" in capsys.readouterr().err
    assert main(["train", "vqa", "--shapes-dir", str(shapes), "--out", str(tmp_path / "bad"), "--model", "saaa",
                 "--set", "film_blocks=5"]) == 2  # an option of another model
    err = capsys.readouterr().err
    assert "saaa config: unknown key(s) film_blocks" in err and err.count("\n") == 1
    assert main(["train", "vqa", "--out", str(tmp_path / "bad"), "--questions", str(shapes / "vqa_questions_train.json"),
                 "--images", str(shapes)]) == 2
    assert "--annotations" in capsys.readouterr().err


# -- a second dataset in VQA format, made here ------------------------------------------------------

SIDES = ("left", "right")
TINTS = {"orange": (240, 140, 20), "teal": (20, 140, 140)}


def _second_dataset(root: Path, split: str, count: int, first_id: int, rng: random.Random) -> dict[str, Any]:
    """48x48 pictures of one bar; questions about its side and tint; answers differ between humans."""
    folder = root / split
    folder.mkdir(parents=True)
    questions, annotations, images = [], [], []
    for image_id in range(first_id, first_id + count):
        side, tint = rng.choice(SIDES), rng.choice(list(TINTS))
        picture = Image.new("RGB", (48, 48), (250, 250, 250))
        x = 4 if side == "left" else 28
        ImageDraw.Draw(picture).rectangle((x, 8, x + 15, 40), fill=TINTS[tint])
        name = f"frame_{image_id:04d}.png"
        picture.save(folder / name)
        images.append({"id": image_id, "file_name": name})
        for index, (text, answer, kind) in enumerate([("Which side is the bar on?", side, "other"),
                                                      ("What tint does the bar have?", tint, "other")]):
            question_id = image_id * 10 + index
            humans = [answer] * 7 + [answer.capitalize() + "!"] * 2 + ["no idea"]
            questions.append({"image_id": image_id, "question": text, "question_id": question_id})
            annotations.append({"question_id": question_id, "image_id": image_id, "question_type": text.split()[0].lower(),
                                "answer_type": kind, "multiple_choice_answer": answer,
                                "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": n + 1}
                                            for n, a in enumerate(humans)]})
    paths = {name: root / f"{split}_{name}.json" for name in ("questions", "annotations", "images")}
    paths["questions"].write_text(json.dumps({"task_type": "Open-Ended", "questions": questions}))
    paths["annotations"].write_text(json.dumps({"annotations": annotations}))
    paths["images"].write_text(json.dumps({"images": images}))
    return paths


def test_generic_path_on_a_second_vqa_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(0)
    train = _second_dataset(tmp_path, "train", 12, 1, rng)
    val = _second_dataset(tmp_path, "val", 4, 100, rng)
    run = tmp_path / "run"
    assert main(["train", "vqa", "--out", str(run), "--model", "saaa", "--epochs", "3", "--batch-size", "4",
                 "--warmup-steps", "1", "--answers", "4", *TINY_FLAGS,
                 "--questions", str(train["questions"]), "--annotations", str(train["annotations"]),
                 "--images", str(tmp_path / "train"), "--image-pattern", "frame_{image_id:04d}.png",
                 "--val-questions", str(val["questions"]), "--val-annotations", str(val["annotations"]),
                 "--val-images", str(tmp_path / "val"), "--val-images-list", str(val["images"])]) == 0
    header = read_header(run / "best.safetensors")
    assert sorted(header["answers"]) == ["left", "orange", "right", "teal"]  # "no idea" is the 5th: left out
    assert header["model_config"]["encoder"]["image_size"] == 48
    results = tmp_path / "results.json"
    assert main(["predict", "vqa", "--weights", str(run / "best.safetensors"), "--out", str(results),
                 "--questions", str(val["questions"]), "--images", str(tmp_path / "val"),
                 "--images-list", str(val["images"])]) == 0
    predictions = json.loads(results.read_text())
    assert all(p["answer"] in header["answers"] for p in predictions)
    evaluation = evaluate_vqa(val["questions"], val["annotations"], results)
    assert evaluation.num_questions == 8 and 0.0 <= evaluation.overall <= 100.0
    # the validation metric of the best checkpoint is the official accuracy of its predictions
    assert header["metrics"]["accuracy"] == pytest.approx(evaluation.overall, abs=0.01)
