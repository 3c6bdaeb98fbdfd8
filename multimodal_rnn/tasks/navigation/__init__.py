"""The navigation task: vision-language navigation on BabyAI (environments, expert demonstrations,
rollouts, model, training, CLI commands).

* :mod:`.env`: BabyAI levels by id, seeds, observation modes, the environments' stray output kept quiet;
* :mod:`.demos`: the BabyAI bot's demonstrations, stored compactly in one ``.npz`` file;
* :mod:`.rollout`: an agent stepping many environments in lockstep (evaluation, rendering);
* :mod:`.dagger`: on-policy demonstrations (the agent acts, the bot labels);
* :mod:`.cli`: ``mmrnn navigate``, ``mmrnn train navigation`` and ``mmrnn data babyai-demos``.

The model lives in :mod:`multimodal_rnn.tasks.navigation.models`, its training in
:mod:`multimodal_rnn.tasks.navigation.training`, success rate, episode length and SPL (pure
functions) in :mod:`multimodal_rnn.metrics.navigation`.
"""

from multimodal_rnn.tasks.navigation.task import TASK

__all__ = ["TASK"]
