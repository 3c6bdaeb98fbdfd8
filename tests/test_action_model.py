"""The action task's LRCN, its predictor, checkpoints and serving spec, on tiny generated clips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from multimodal_rnn.checkpoint import save_checkpoint
from multimodal_rnn.errors import CheckpointError, ConfigError
from multimodal_rnn.tasks.action.models import LRCN, MODELS, LRCNConfig
from multimodal_rnn.tasks.action.predictor import ActionClassifier
from multimodal_rnn.tasks.action.serving import SERVING, ActionRequest, action_batch
from multimodal_rnn.tasks.protocol import ServingLimits
from multimodal_rnn.video import VideoClip
from tests.video_models import moving_dot_clip, padded, tiny_options

CLASSES = ["left", "right", "still"]


def tiny_model(**options: object) -> LRCN:
    torch.manual_seed(0)
    model = MODELS.build("lrcn", {"num_classes": 3, **tiny_options(**options)})
    assert isinstance(model, LRCN)
    return model


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("pooling", ["last", "mean"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padded_frames_change_nothing(cell, pooling, bidirectional):
    model = tiny_model(cell=cell, pooling=pooling, bidirectional=bidirectional).eval()
    frames = torch.randn(1, 3, 3, 16, 16)
    alone = model({"frames": frames})["logits"]
    batch = torch.cat([padded(frames, 5), torch.randn(1, 5, 3, 16, 16)])
    together = model({"frames": batch, "length": torch.tensor([3, 5])})["logits"]
    assert together.shape == (2, 3)
    torch.testing.assert_close(together[0], alone[0], rtol=1e-5, atol=1e-5)


def test_config_checks():
    with pytest.raises(ConfigError, match="pooling must be one of last, mean"):
        LRCNConfig(num_classes=3, pooling="max")
    with pytest.raises(ConfigError, match="unknown"):
        MODELS.check_overrides("lrcn", {"attention_size": 3})


def test_learns_direction_which_one_frame_cannot_tell():
    """Left and right clips hold the same frames in opposite orders: the LRCN must read the order."""
    model = tiny_model(cell="gru")
    transform = ActionClassifier(model, CLASSES).clip_transform
    model.train()
    frames = torch.stack([transform(moving_dot_clip(d, start=s)) for d in (-1, 1) for s in (1, 3, 5)])
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(60):
        loss = model({"frames": frames, "label": labels})["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    assert model({"frames": frames, "label": labels})["accuracy"] == 1.0


def test_checkpoint_round_trip_and_batched_predictions(tmp_path):
    model = tiny_model(bidirectional=True).eval()
    path = tmp_path / "action.safetensors"
    save_checkpoint(
        path, model, task="action", model_name="lrcn", model_config=model.config, extra={"classes": CLASSES}
    )
    classifier = ActionClassifier.from_checkpoint(path)
    assert classifier.classes == tuple(CLASSES) and classifier.num_frames == 4
    clips = [moving_dot_clip(1), moving_dot_clip(-1, frames=3)]
    clip = VideoClip(clips[0], tuple(range(4)), 8.0, 4)
    together = classifier.classify([clip, clips[1]], top=2)
    alone = [classifier.classify([c], top=2)[0] for c in clips]
    for a, b in zip(together, alone):
        assert [name for name, _ in a.classes] == [name for name, _ in b.classes]
        assert np.allclose([p for _, p in a.classes], [p for _, p in b.classes], atol=1e-5)
    expected = ActionClassifier(model, CLASSES).classify(clips, top=3)
    assert [r.label for r in expected] == [r.label for r in together]


def test_checkpoint_without_classes_is_refused(tmp_path):
    model = tiny_model()
    path = tmp_path / "action.safetensors"
    save_checkpoint(path, model, task="action", model_name="lrcn", model_config=model.config)
    with pytest.raises(CheckpointError, match="without a list of distinct class names"):
        ActionClassifier.from_checkpoint(path)
    save_checkpoint(
        path, model, task="action", model_name="lrcn", model_config=model.config, extra={"classes": ["a", "b"]}
    )
    with pytest.raises(CheckpointError, match="2 class names, model expects 3"):
        ActionClassifier.from_checkpoint(path)


def test_serving_batches_clips_of_any_length_each_with_its_top():
    classifier = ActionClassifier(tiny_model(), CLASSES)
    assert SERVING.upload == "video"
    assert [field.name for field in SERVING.fields(ServingLimits())] == ["top", "gif"]
    frames = [moving_dot_clip(1), moving_dot_clip(-1, frames=3)]
    clip = VideoClip(frames[0], (0, 1, 2, 3), 8.0, 4)
    requests = [
        SERVING.request({"top": 1, "gif": 1, "video": clip}, classifier.clip_transform(clip)),
        ActionRequest(classifier.clip_transform(frames[1]), 3),
    ]
    results = action_batch(classifier, requests)
    assert [len(r.classes) for r in results] == [1, 3]
    assert results[1].classes == classifier.classify([frames[1]], top=3)[0].classes
    answer = SERVING.to_json(requests[0], results[0])
    assert answer["label"] == results[0].label and answer["frames"] == 4
    assert answer["gif"].startswith("R0lGOD")  # base64 of "GIF8"
    assert SERVING.to_json(requests[1], results[1])["gif"] is None


def test_the_light_copies_equal_their_sources():
    from multimodal_rnn.tasks import TASKS
    from multimodal_rnn.tasks.action import cli as action_cli
    from multimodal_rnn.tasks.frames import cli as frames_cli

    assert list(action_cli.MODEL_NAMES) == TASKS["action"].models.names()
    assert list(frames_cli.MODEL_NAMES) == TASKS["frames"].models.names()


def test_shuffled_frame_order_keeps_the_frames_and_repeats_in_eval_mode():
    model = tiny_model(frame_order="shuffled").eval()
    features = torch.arange(2 * 5, dtype=torch.float32).reshape(2, 5, 1)
    shuffled = model._shuffled(features, torch.tensor([5, 3]))
    assert sorted(shuffled[0, :, 0].tolist()) == features[0, :, 0].tolist()
    assert sorted(shuffled[1, :3, 0].tolist()) == [5.0, 6.0, 7.0] and shuffled[1, 3:, 0].tolist() == [8.0, 9.0]
    assert torch.equal(shuffled, model._shuffled(features, torch.tensor([5, 3])))
    frames = torch.randn(2, 4, 3, 16, 16)
    assert torch.equal(model({"frames": frames})["logits"], model({"frames": frames})["logits"])
