"""The video datasets in one import: format readers, the record they return, the clip pipeline.

Every reader returns a list of :class:`VideoRecord` (``video_id``, ``path``, ``label``,
``frame_labels`` one per source frame, ``captions``, ``split``); the formats are described in
docs/formats.md, "Video", and in each reader's module:

- UCF-101 / HMDB-51 in class folders (:func:`read_ucf101`, :func:`read_ucf_classes`,
  :func:`read_hmdb51` for HMDB-51's own split files): :mod:`.video_ucf`;
- Kinetics CSV with local files (:func:`read_kinetics`, :func:`kinetics_classes`): :mod:`.video_kinetics`;
- MSR-VTT ``videodatainfo.json`` (:func:`read_msrvtt`) and MSVD caption lines (:func:`read_msvd`):
  :mod:`.video_captions`;
- per-frame labels JSON/CSV, frames or Charades-like segments (:func:`read_frame_labels`,
  :func:`segments_to_frames`, :func:`attach_frame_labels`): :mod:`.video_frame_labels`.

The clip pipeline (:mod:`.video_clips`): :class:`ClipDataset` (sampled, transformed clips;
unreadable clips counted and skipped), :func:`collate_clips` (padding with a ``mask``),
:func:`clip_to_tensor` and :func:`per_frame` (clip transforms); a frozen encoder's per-frame
features cached per clip (:func:`build_clip_feature_cache`, :class:`CachedClipDataset`):
:mod:`.video_features`.
"""

from multimodal_rnn.datasets.video_captions import MSRVTT_SPLITS, read_msrvtt, read_msvd, video_references
from multimodal_rnn.datasets.video_clips import (
    IGNORE_INDEX,
    SAMPLINGS,
    ClipDataset,
    clip_to_tensor,
    collate_clips,
    per_frame,
)
from multimodal_rnn.datasets.video_features import (
    CachedClipDataset,
    ClipFeatures,
    build_clip_feature_cache,
    open_clip_feature_cache,
)
from multimodal_rnn.datasets.video_frame_labels import (
    BACKGROUND,
    FrameLabels,
    attach_frame_labels,
    read_frame_labels,
    segments_to_frames,
)
from multimodal_rnn.datasets.video_kinetics import KINETICS_COLUMNS, kinetics_classes, read_kinetics
from multimodal_rnn.datasets.video_records import VideoRecord
from multimodal_rnn.datasets.video_ucf import UCF_SPLITS, read_hmdb51, read_ucf101, read_ucf_classes, ucf_lists_dir

__all__ = [
    "BACKGROUND",
    "IGNORE_INDEX",
    "KINETICS_COLUMNS",
    "MSRVTT_SPLITS",
    "SAMPLINGS",
    "UCF_SPLITS",
    "CachedClipDataset",
    "ClipDataset",
    "ClipFeatures",
    "FrameLabels",
    "VideoRecord",
    "attach_frame_labels",
    "build_clip_feature_cache",
    "clip_to_tensor",
    "collate_clips",
    "kinetics_classes",
    "open_clip_feature_cache",
    "per_frame",
    "read_frame_labels",
    "read_hmdb51",
    "read_kinetics",
    "read_msrvtt",
    "read_msvd",
    "read_ucf101",
    "read_ucf_classes",
    "segments_to_frames",
    "ucf_lists_dir",
    "video_references",
]
