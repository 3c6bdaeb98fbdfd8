"""Applications built on the public API of multimodal_rnn: the ``mmrnn`` CLI, server and scripts."""
