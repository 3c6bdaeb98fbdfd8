"""multimodal_rnn: a CNN sees, one recurrent core remembers, small heads answer.

The package is layered: building blocks in ``recurrent/``, ``encoders/`` and ``text/``;
``decoding`` and ``metrics/``; data formats in ``datasets/``; orchestration in ``training/``,
``checkpoint`` and ``registry``; one package per task under ``tasks/``. The library never prints
and never parses argv.
"""

__version__ = "0.1.0"
