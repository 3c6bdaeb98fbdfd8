"""The frames task's frame_rnn, its predictor, checkpoints and serving spec; the shared clip pieces
(per-frame encoder, clip transform, both-way cores) on tiny generated clips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from multimodal_rnn.checkpoint import save_checkpoint
from multimodal_rnn.encoders.clip import ClipEncoder, build_clip_transform, stack_clips
from multimodal_rnn.encoders.image import ImageEncoderConfig
from multimodal_rnn.errors import InputError
from multimodal_rnn.recurrent import CoreConfig
from multimodal_rnn.recurrent.bidirectional import SequenceCores, masked_mean
from multimodal_rnn.recurrent.sequences import reverse_padded
from multimodal_rnn.tasks.frames.models import IGNORE_LABEL, MODELS, FrameRNN
from multimodal_rnn.tasks.frames.predictor import FrameLabeler
from multimodal_rnn.tasks.frames.serving import SERVING, frames_batch
from multimodal_rnn.tasks.protocol import ServingLimits
from multimodal_rnn.video import VideoClip
from tests.video_models import moving_dot_clip, padded, tiny_options

CLASSES = ["moving left", "moving right"]


def tiny_model(**options: object) -> FrameRNN:
    torch.manual_seed(0)
    model = MODELS.build("frame_rnn", {"num_classes": 2, **tiny_options(**options)})
    assert isinstance(model, FrameRNN)
    return model


def test_both_way_cores_read_each_clip_within_its_length():
    torch.manual_seed(0)
    cores = SequenceCores(CoreConfig(cell="gru", input_size=3, hidden_size=4), bidirectional=True)
    x, lengths = torch.randn(2, 5, 3), torch.tensor([5, 3])
    outputs, summary = cores(x, lengths)
    assert outputs.shape == (2, 5, 8) and summary.shape == (2, 8)
    forward, _ = cores.forward_core(x[1:, :3])
    backward, _ = cores.backward_core(x[1:, :3].flip(1))
    torch.testing.assert_close(outputs[1, :3], torch.cat([forward[0], backward[0].flip(0)], dim=1))
    assert torch.equal(outputs[1, 3:], torch.zeros(2, 8))  # padded steps
    torch.testing.assert_close(summary[1], torch.cat([forward[0, -1], backward[0, -1]]))
    assert torch.equal(reverse_padded(reverse_padded(x, lengths), lengths), x)
    torch.testing.assert_close(masked_mean(outputs, lengths)[1], outputs[1, :3].mean(dim=0))


def test_clip_encoder_and_transform():
    config = ImageEncoderConfig(channels=(4, 8), image_size=16)
    transform = build_clip_transform(config)
    frames = np.full((3, 32, 32, 3), 255, dtype=np.uint8)
    pixels = transform(VideoClip(frames, (0, 1, 2), None, 3))
    assert pixels.shape == (3, 3, 16, 16)  # resized to the encoder's size
    torch.testing.assert_close(pixels, torch.full_like(pixels, (1.0 - 0.5) / 0.25))
    shifted = build_clip_transform(config, train=True)(frames)
    assert shifted.shape == (3, 3, 16, 16)
    crop = build_clip_transform(ImageEncoderConfig(backbone="resnet18", image_size=32))(
        np.zeros((2, 40, 60, 3), np.uint8)
    )
    assert crop.shape == (2, 3, 32, 32)
    with pytest.raises(InputError, match="uint8"):
        transform(np.zeros((2, 16, 16, 3), dtype=np.float32))
    encoder = ClipEncoder(config, spatial_size=5)
    assert encoder(torch.randn(2, 3, 3, 16, 16)).shape == (2, 3, 5)
    assert ClipEncoder(config)(torch.randn(2, 3, 3, 16, 16)).shape == (2, 3, 8)
    batch, lengths = stack_clips([torch.ones(2, 3, 4, 4), torch.ones(3, 3, 4, 4)])
    assert batch.shape == (2, 3, 3, 4, 4) and lengths.tolist() == [2, 3] and batch[0, 2].abs().sum() == 0


@pytest.mark.parametrize("bidirectional", [False, True])
def test_padded_frames_get_no_loss_and_change_no_label(bidirectional):
    model = tiny_model(bidirectional=bidirectional).eval()
    frames = torch.randn(1, 3, 3, 16, 16)
    alone = model({"frames": frames})["logits"]
    batch = torch.cat([padded(frames, 5), torch.randn(1, 5, 3, 16, 16)])
    labels = torch.tensor([[0, 1, 0, 1, 1], [1, 1, 0, 0, 1]])  # the padded frames' labels must not count
    out = model({"frames": batch, "length": torch.tensor([3, 5]), "frame_labels": labels})
    torch.testing.assert_close(out["logits"][0, :3], alone[0], rtol=1e-5, atol=1e-5)
    ignored = labels.clone()
    ignored[0, 3:] = IGNORE_LABEL
    again = model({"frames": batch, "length": torch.tensor([3, 5]), "frame_labels": ignored})
    torch.testing.assert_close(out["loss"], again["loss"])


def test_learns_the_direction_of_every_frame():
    model = tiny_model(cell="lstm")
    transform = FrameLabeler(model, CLASSES).clip_transform
    model.train()
    frames = torch.stack([transform(moving_dot_clip(d, start=s)) for d in (-1, 1) for s in (1, 3, 5)])
    labels = torch.tensor([[0] * 4] * 3 + [[1] * 4] * 3)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(60):
        loss = model({"frames": frames, "frame_labels": labels})["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    assert model({"frames": frames, "frame_labels": labels})["accuracy"] == 1.0


def test_checkpoint_round_trip_batched_labels_and_serving(tmp_path):
    model = tiny_model().eval()
    path = tmp_path / "frames.safetensors"
    save_checkpoint(
        path, model, task="frames", model_name="frame_rnn", model_config=model.config, extra={"classes": CLASSES}
    )
    labeler = FrameLabeler.from_checkpoint(path)
    clips = [moving_dot_clip(1, frames=5), moving_dot_clip(-1, frames=3)]
    together = labeler.label(clips)
    assert [len(r.labels) for r in together] == [5, 3]
    for clip, result in zip(clips, together):
        alone = labeler.label([clip])[0]
        assert alone.labels == result.labels
        assert np.allclose(alone.probabilities, result.probabilities, atol=1e-5)
    assert SERVING.upload == "video" and [f.name for f in SERVING.fields(ServingLimits())] == ["gif"]
    video = VideoClip(clips[1], (0, 4, 8), 8.0, 9)
    requests = [
        SERVING.request(
            {"gif": 0, "video": VideoClip(clips[0], tuple(range(5)), 8.0, 5)}, labeler.clip_transform(clips[0])
        ),
        SERVING.request({"gif": 1, "video": video}, labeler.clip_transform(clips[1])),
    ]
    results = frames_batch(labeler, requests)
    assert [r.labels for r in results] == [r.labels for r in together]
    answer = SERVING.to_json(requests[1], results[1])
    assert [frame["index"] for frame in answer["frames"]] == [0, 4, 8]
    assert [frame["label"] for frame in answer["frames"]] == list(results[1].labels)
    assert answer["gif"].startswith("R0lGOD") and SERVING.to_json(requests[0], results[0])["gif"] is None
