"""Applications built on the public API of multimodal_rnn: the ``mmrnn`` CLI, server and scripts.

The repository keeps them in ``apps/``; the wheel installs them as ``multimodal_rnn.apps``, so
modules here import each other relatively (``from .cli import main``, ``from ..server import app``).
"""
