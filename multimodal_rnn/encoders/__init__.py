"""Encoders that turn images into grid features and a pooled vector (see :mod:`.image`)."""

from multimodal_rnn.encoders.image import EncodedImage, ImageEncoder, ImageEncoderConfig, build_transform

__all__ = ["EncodedImage", "ImageEncoder", "ImageEncoderConfig", "build_transform"]
