"""Bad-input corpus cases, part 3: every hostile video of tests/bad_videos.py handed to
``mmrnn caption-video`` (a tiny video caption model saved once per workspace), and to
``mmrnn classify-video`` and ``mmrnn label-frames`` (their shipped weights), see
tests/test_bad_input_corpus.py: one line naming the file, exit 2."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from multimodal_rnn.checkpoint import save_checkpoint
from multimodal_rnn.tasks import MODELS
from multimodal_rnn.text.vocab import Vocabulary
from tests.bad_inputs import CASES, Workspace, case
from tests.bad_videos import BAD_VIDEOS, BadVideo

TINY_VIDEO_CAPTION_MODEL = {
    "embed_size": 8,
    "hidden_size": 16,
    "frame_size": 8,
    "dropout": 0.0,
    "num_frames": 4,
    "encoder": {"channels": [4, 4], "image_size": 16},
}

CASES.setdefault("videos", {})


def video_caption_weights(ws: Workspace) -> Path:
    """A tiny temporal-attention video caption checkpoint in the workspace (made on first use)."""
    path = ws.root / "video_caption.safetensors"
    if not path.exists():
        torch.manual_seed(0)
        vocab = Vocabulary.build([["a", "square", "moves"]])
        config = {**TINY_VIDEO_CAPTION_MODEL, "vocab_size": len(vocab), "max_length": 4}
        model = MODELS.build("temporal_attention", config)
        save_checkpoint(
            path,
            model,
            task="video_caption",
            model_name="temporal_attention",
            model_config=model.config,
            vocab=vocab.to_dict(),
        )
    return path


for _name, _bad in BAD_VIDEOS.items():
    for _command in ("caption-video", "classify-video", "label-frames"):

        def _video(
            ws: Workspace, name: str = _name, bad: BadVideo = _bad, command: str = _command
        ) -> tuple[list[str], str]:
            folder = ws.root / "videos" / command / re.sub(r"\W+", "-", name)
            folder.mkdir(parents=True, exist_ok=True)
            path = bad.make(folder)
            named = folder / bad.named if bad.named else path
            weights = ["--weights", str(video_caption_weights(ws))] if command == "caption-video" else []
            return [command, str(path), *weights], str(named)

        case("videos", f"{_command}: {_name}")(_video)
