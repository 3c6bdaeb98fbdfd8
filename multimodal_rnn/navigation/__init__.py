"""Vision-language navigation on BabyAI: environments, expert demonstrations, rollouts.

* :mod:`.env`: BabyAI levels by id, seeds, observation modes, the environments' stray output kept quiet;
* :mod:`.demos`: the BabyAI bot's demonstrations, stored compactly in one ``.npz`` file;
* :mod:`.rollout`: an agent stepping many environments in lockstep (evaluation, rendering).

The model lives in :mod:`multimodal_rnn.heads.navigation`, its training in
:mod:`multimodal_rnn.training.navigation`, success rate, episode length and SPL (pure
functions) in :mod:`multimodal_rnn.metrics.navigation`.
"""
