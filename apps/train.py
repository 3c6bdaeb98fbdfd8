"""``python -m apps.train TASK ...`` = ``mmrnn train TASK ...``, for launchers that want a module
(from the repository root; an installed copy is ``python -m multimodal_rnn.apps.train``).

Several processes on one machine (add ``--distributed``; ``--batch-size`` is per process)::

    torchrun --standalone --nproc_per_node=2 -m apps.train caption --out runs/caption --distributed
"""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
