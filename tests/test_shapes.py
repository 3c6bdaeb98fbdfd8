"""Shapes world: file formats, determinism, config and the ``mmrnn data shapes`` command.

Truthfulness of the language against the scene graphs is checked in test_shapes_truth.py.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image
from pycocotools.coco import COCO

import apps.cli
from multimodal_rnn.config import config_from_dict
from multimodal_rnn.datasets.captions import read_coco_captions
from multimodal_rnn.datasets.shapes.dialog import ANSWER_MEANINGS
from multimodal_rnn.datasets.shapes.world import (
    ANSWER_POOL,
    ShapesConfig,
    answer_relevance,
    captions_for,
    dialog_for,
    generate_shapes_world,
    image_record,
    make_scene,
    questions_for,
    render_scene,
)
from multimodal_rnn.errors import ConfigError, InputError

SMALL = ShapesConfig(seed=3, train_size=20, val_size=8, test_size=12)
SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shapes")
    generate_shapes_world(out, SMALL)
    return out


def _load(world: Path, name: str):
    return json.loads((world / name).read_text(encoding="utf-8"))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_another_seed_differs(world: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_shapes_world(again, SMALL)
    first, second = _files(world), _files(again)
    assert len(first) == 20 + 8 + 12 + 5 * 3 + 2  # images, 5 files per split, dense annotations, manifest
    assert first == second
    other = tmp_path / "other"
    generate_shapes_world(other, ShapesConfig(seed=4, train_size=20, val_size=8, test_size=12))
    third = _files(other)
    assert third.keys() == first.keys()
    differing = [name for name in first if first[name] != third[name]]
    assert "captions_train.json" in differing
    assert sum(name.endswith(".png") for name in differing) == 40


def test_val_and_test_do_not_depend_on_train_size(world: Path, tmp_path: Path) -> None:
    generate_shapes_world(tmp_path, ShapesConfig(seed=3, train_size=5, val_size=8, test_size=12))
    ours = _load(world, "scenes_val.json")["images"]
    theirs = _load(tmp_path, "scenes_val.json")["images"]
    assert [image["objects"] for image in ours] == [image["objects"] for image in theirs]


def test_json_is_written_with_sorted_keys_and_fixed_separators(world: Path) -> None:
    for path in world.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        assert text == json.dumps(json.loads(text), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def test_images_have_coco_like_names_unique_ids_and_the_configured_size(world: Path, tmp_path: Path) -> None:
    ids = []
    for split in SPLITS:
        coco = _load(world, f"captions_{split}.json")
        for image in coco["images"]:
            assert image["file_name"] == f"shapes_{split}_{image['id']:012d}.png"
            with Image.open(world / "images" / split / image["file_name"]) as png:
                assert png.format == "PNG" and png.mode == "RGB" and png.size == (64, 64)
            ids.append(image["id"])
    assert len(ids) == len(set(ids)) == 40
    generate_shapes_world(tmp_path, ShapesConfig(train_size=1, val_size=0, test_size=0, image_size=96))
    assert Image.open(next((tmp_path / "images" / "train").glob("*.png"))).size == (96, 96)


def test_coco_captions_load_with_pycocotools_and_the_project_reader(world: Path) -> None:
    coco = COCO(str(world / "captions_train.json"))
    assert len(coco.getImgIds()) == 20
    for image_id in coco.getImgIds():
        captions = [a["caption"] for a in coco.loadAnns(coco.getAnnIds(imgIds=image_id))]
        assert len(captions) == len(set(captions)) == 5
    data = _load(world, "captions_train.json")
    assert set(data) == {"info", "licenses", "images", "annotations"}
    assert all(set(image) == {"id", "file_name", "height", "width"} for image in data["images"])
    records = read_coco_captions(world / "captions_val.json", world / "images" / "val")
    assert len(records) == 8 and all(Path(r.path).is_file() and len(r.captions) == 5 for r in records)


@pytest.mark.parametrize("split", SPLITS)
def test_vqa_files_follow_the_v2_format(world: Path, split: str) -> None:
    questions = _load(world, f"vqa_questions_{split}.json")
    annotations = _load(world, f"vqa_annotations_{split}.json")
    assert set(questions) == {"info", "task_type", "data_type", "data_subtype", "license", "questions"}
    assert set(annotations) == {"info", "license", "data_subtype", "annotations"}
    assert questions["data_subtype"] == annotations["data_subtype"] == split
    assert all(set(q) == {"image_id", "question", "question_id"} for q in questions["questions"])
    keys = {"question_id", "image_id", "question_type", "answer_type", "multiple_choice_answer", "answers"}
    by_id = {q["question_id"]: q for q in questions["questions"]}
    assert len(by_id) == len(questions["questions"]) == 5 * SMALL.__dict__[f"{split}_size"]
    assert sorted(by_id) == sorted(a["question_id"] for a in annotations["annotations"])
    for ann in annotations["annotations"]:
        assert set(ann) == keys
        assert by_id[ann["question_id"]]["image_id"] == ann["image_id"]
        assert by_id[ann["question_id"]]["question"].startswith(ann["question_type"] + " ")
        assert [a["answer_id"] for a in ann["answers"]] == list(range(1, 11))
        assert all(a["answer_confidence"] == "yes" for a in ann["answers"])
        answers = [a["answer"] for a in ann["answers"]]
        assert ann["multiple_choice_answer"] == max(set(answers), key=answers.count)
        expected_type = {"yes": "yes/no", "no": "yes/no"}.get(
            ann["multiple_choice_answer"], "number" if ann["multiple_choice_answer"].isdigit() else "other"
        )
        assert ann["answer_type"] == expected_type


def test_vqa_yes_no_answers_are_balanced_and_all_kinds_are_asked(world: Path) -> None:
    annotations = _load(world, "vqa_annotations_train.json")["annotations"]
    yes_no = [a["multiple_choice_answer"] for a in annotations if a["answer_type"] == "yes/no"]
    assert yes_no.count("yes") == yes_no.count("no") == 20
    types = {a["question_type"] for a in annotations}
    assert types == {"what color is the", "what shape is the", "how many", "is there a", "is the"}


def test_visdial_train_and_val_have_ten_full_rounds(world: Path) -> None:
    for split in ("train", "val"):
        data = _load(world, f"visdial_{split}.json")
        assert set(data) == {"version", "split", "data"} and data["version"] == "1.0" and data["split"] == split
        assert set(data["data"]) == {"questions", "answers", "dialogs"}
        answers = data["data"]["answers"]
        for dialog in data["data"]["dialogs"]:
            assert set(dialog) == {"image_id", "caption", "dialog"} and dialog["caption"]
            assert len(dialog["dialog"]) == 10
            for turn in dialog["dialog"]:
                assert set(turn) == {"question", "answer", "answer_options", "gt_index"}
                options = [answers[i] for i in turn["answer_options"]]
                assert len(options) == len(set(options)) == 100
                assert options[turn["gt_index"]] == answers[turn["answer"]]
                assert 0 <= turn["question"] < len(data["data"]["questions"])


def test_visdial_test_dialogs_stop_at_a_round_without_answer(world: Path) -> None:
    data = _load(world, "visdial_test.json")
    lengths = []
    for dialog in data["data"]["dialogs"]:
        *answered, last = dialog["dialog"]
        assert set(last) == {"question", "answer_options"} and len(last["answer_options"]) == 100
        assert all(set(turn) == {"question", "answer", "answer_options", "gt_index"} for turn in answered)
        lengths.append(len(dialog["dialog"]))
    assert all(1 <= n <= 10 for n in lengths) and len(set(lengths)) > 3


def test_dense_annotations_cover_one_val_round_per_dialog(world: Path) -> None:
    dense = _load(world, "visdial_val_dense_annotations.json")
    dialogs = {d["image_id"]: d for d in _load(world, "visdial_val.json")["data"]["dialogs"]}
    assert sorted(d["image_id"] for d in dense) == sorted(dialogs)
    for entry in dense:
        assert set(entry) == {"image_id", "round_id", "gt_relevance"}
        turn = dialogs[entry["image_id"]]["dialog"][entry["round_id"] - 1]
        relevance = entry["gt_relevance"]
        assert len(relevance) == 100 and set(relevance) == {0.0, 1.0}  # no rewording of the gt is offered
        assert relevance[turn["gt_index"]] == 1.0 and relevance.count(1.0) == 1
    assert not list(world.glob("visdial_t*_dense_annotations.json"))


def test_no_wrong_option_means_the_same_as_the_ground_truth(world: Path) -> None:
    checked = 0
    for split in SPLITS:
        data = _load(world, f"visdial_{split}.json")["data"]
        answers = data["answers"]
        for dialog in data["dialogs"]:
            for turn in dialog["dialog"]:
                if "answer" not in turn:
                    continue
                truth = answers[turn["answer"]]
                wrong = [answers[i] for k, i in enumerate(turn["answer_options"]) if k != turn["gt_index"]]
                assert [o for o in wrong if ANSWER_MEANINGS[o] == ANSWER_MEANINGS[truth]] == [], (split, truth)
                checked += 1
    assert checked > 300


def test_every_meaning_leaves_99_wrong_options_and_has_rewordings() -> None:
    meanings = Counter(ANSWER_MEANINGS.values())
    assert set(ANSWER_POOL) == set(ANSWER_MEANINGS) and len(ANSWER_POOL) == 134
    assert len(ANSWER_POOL) - max(meanings.values()) >= 99
    assert ANSWER_MEANINGS["yes"] == ANSWER_MEANINGS["yes it is"] == ANSWER_MEANINGS["yes there are two"]
    assert ANSWER_MEANINGS["red"] == ANSWER_MEANINGS["it looks red"] != ANSWER_MEANINGS["blue"]
    rounds = dialog_for(make_scene(random.Random(11), ShapesConfig()), random.Random(12))["rounds"]
    for turn in rounds:
        options = turn["answer_options"]
        assert options[turn["gt_index"]] == turn["answer"] and len(set(options)) == 100
        assert [ANSWER_MEANINGS[o] for o in options].count(ANSWER_MEANINGS[turn["answer"]]) == 1
        assert answer_relevance(turn["answer"], options) == [float(o == turn["answer"]) for o in options]


def test_manifest_records_the_config(world: Path) -> None:
    manifest = _load(world, "manifest.json")
    assert config_from_dict(ShapesConfig, manifest["config"]) == SMALL
    assert manifest["splits"]["val"]["images"] == 8
    assert manifest["splits"]["test"]["files"]["visdial"] == "visdial_test.json"


def test_in_memory_generators_are_deterministic() -> None:
    def everything(seed: int):
        rng = random.Random(seed)
        scene = make_scene(rng, ShapesConfig())
        return scene, captions_for(scene, rng), questions_for(scene, rng), dialog_for(scene, rng)

    assert everything(1) == everything(1)
    assert everything(1) != everything(2)
    scene = everything(5)[0]
    assert render_scene(scene, 48).tobytes() == render_scene(scene, 48).tobytes()


def test_image_record_is_the_in_memory_twin_of_the_files(world: Path) -> None:
    record = image_record(SMALL, "test", 3)
    assert record.image_id == 20 + 8 + 4
    annotations = _load(world, "captions_test.json")["annotations"]
    assert [a["caption"] for a in annotations if a["image_id"] == record.image_id] == record.captions
    with Image.open(world / "images" / "test" / record.file_name) as png:
        assert png.tobytes() == render_scene(record.scene, SMALL.image_size).tobytes()


@pytest.mark.parametrize(
    "overrides",
    [{"image_size": 8}, {"train_size": -1}, {"min_objects": 0}, {"max_objects": 5}, {"min_objects": 3, "max_objects": 2},
     {"train_size": 0, "val_size": 0, "test_size": 0}, {"relation_margin": 0.9}],
)
def test_invalid_configs_are_refused(overrides: dict) -> None:
    with pytest.raises(ConfigError):
        ShapesConfig(**overrides)


def test_library_refuses_a_non_empty_directory_unless_overwriting(tmp_path: Path) -> None:
    config = ShapesConfig(train_size=3, val_size=1, test_size=1)
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="not empty"):
        generate_shapes_world(tmp_path, config)
    generate_shapes_world(tmp_path, ShapesConfig(train_size=6, val_size=1, test_size=1), overwrite=True)
    summary = generate_shapes_world(tmp_path, config, overwrite=True)
    assert len(list((tmp_path / "images" / "train").iterdir())) == 3  # stale images are removed
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert summary["splits"]["train"]["images"] == 3 and summary["caption_vocabulary_size"] > 10


def test_cli_generates_and_refuses_a_non_empty_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(apps.cli, "COMMANDS", ("data",))  # independent of the other subcommands
    out = tmp_path / "world"
    argv = ["data", "shapes", "--out", str(out), "--train", "4", "--val", "2", "--test", "2", "--seed", "7"]
    assert apps.cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "shapes world written to" in printed and "20 captions" in printed
    assert len(_load(out, "captions_train.json")["annotations"]) == 20
    assert apps.cli.main(argv) == 2
    assert "not empty" in capsys.readouterr().err
    assert apps.cli.main(argv + ["--force"]) == 0
