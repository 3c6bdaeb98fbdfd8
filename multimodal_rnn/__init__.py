"""multimodal_rnn: a CNN sees, one recurrent core remembers, small heads answer.

The package is layered (see the project's ARCHITECTURE.md): building blocks in
``recurrent/``, ``encoders/`` and ``vocab.py``; task heads in ``heads/``; decoding,
losses and metrics; data in ``datasets/``; orchestration in ``training/``,
``checkpoint.py`` and ``registry.py``. The library never prints and never parses argv.
"""

__version__ = "0.1.0"
