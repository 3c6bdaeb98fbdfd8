"""BabyAI environments by level id: construction, seeds, observation modes, quiet stepping.

Observations (per step) come in two modes:

* ``symbolic`` (default): the 7x7x3 uint8 egocentric partial view of (object, color, state) indices;
* ``pixels``: the same partial view rendered by minigrid's ``RGBImgPartialObsWrapper``,
  (7 * tile_size, 7 * tile_size, 3) uint8 RGB.

Both come with ``direction`` (0..3) and the ``mission`` string. Some levels print
``Sampling rejected: ...`` while they draw a layout; :func:`quiet` keeps that off the console.

Seed ranges (all disjoint, so held-out numbers are honest): demonstrations for training use
``[seed, seed + N)`` with small ``seed`` (default 0); validation during training uses
``VALIDATION_SEED_OFFSET + i``; ``mmrnn navigate`` uses ``EVAL_SEED_OFFSET + seed + i``.
"""

from __future__ import annotations

import contextlib
import io
import os
from typing import TYPE_CHECKING, Any, Iterator

from multimodal_rnn.errors import InputError

if TYPE_CHECKING:  # the command line reads this module's constants without importing numpy
    import numpy as np

OBS_MODES = ("symbolic", "pixels")
VIEW_SIZE = 7
"""Side of the agent's egocentric partial view in cells."""
NUM_ACTIONS = 7
"""left, right, forward, pickup, drop, toggle, done."""
ACTION_NAMES = ("left", "right", "forward", "pickup", "drop", "toggle", "done")
VALIDATION_SEED_OFFSET = 500_000_000
EVAL_SEED_OFFSET = 1_000_000_000
DEFAULT_TILE_SIZE = 8
MAX_TILE_SIZE = 32
"""Largest ``--tile-size`` of ``mmrnn data babyai-demos``: a 224 x 224 pixel view (7 cells of 32 px)."""


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Swallow what the environment code prints on stdout (e.g. ``Sampling rejected: ...``)."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _import_minigrid() -> Any:
    try:
        with quiet():
            import gymnasium
            import minigrid  # noqa: F401  (registers the BabyAI levels)
    except ImportError as exc:  # pragma: no cover - minigrid is a dependency
        raise InputError(f"navigation needs the 'minigrid' package ({exc})") from None
    return gymnasium


def babyai_levels() -> list[str]:
    """The BabyAI level ids registered by the installed ``minigrid`` (sorted)."""
    gymnasium = _import_minigrid()
    return sorted(name for name in gymnasium.registry if name.startswith("BabyAI-"))


def check_level(level: str) -> None:
    """Raise :class:`InputError` unless ``level`` is a registered BabyAI level id."""
    levels = babyai_levels()
    if level not in levels:
        close = [name for name in levels if level.lower().replace("babyai-", "") in name.lower()][:5]
        hint = f" (did you mean {', '.join(close)}?)" if close else " (e.g. BabyAI-GoToRedBall-v0, BabyAI-GoToLocal-v0)"
        raise InputError(f"unknown BabyAI level {level!r}{hint}")


def make_env(level: str, *, obs_mode: str = "symbolic", tile_size: int = DEFAULT_TILE_SIZE,
             render_mode: str | None = None) -> Any:
    """A gymnasium environment of BabyAI ``level`` in observation mode ``obs_mode``.

    Raises:
        InputError: an unknown level or observation mode.
    """
    if obs_mode not in OBS_MODES:
        raise InputError(f"unknown observation mode {obs_mode!r} (known: {', '.join(OBS_MODES)})")
    check_level(level)
    gymnasium = _import_minigrid()
    with quiet():
        env = gymnasium.make(level, render_mode=render_mode)
        if obs_mode == "pixels":
            from minigrid.wrappers import RGBImgPartialObsWrapper

            env = RGBImgPartialObsWrapper(env, tile_size=tile_size)
    return env


def observation_shape(obs_mode: str, tile_size: int = DEFAULT_TILE_SIZE) -> tuple[int, int, int]:
    """Per-step image shape (H, W, 3) of ``obs_mode``."""
    side = VIEW_SIZE if obs_mode == "symbolic" else VIEW_SIZE * tile_size
    return (side, side, 3)


def reset(env: Any, seed: int) -> dict[str, Any]:
    """``env.reset(seed=seed)`` without console output; returns the observation dict."""
    with quiet():
        obs, _ = env.reset(seed=int(seed))
    return obs


def step(env: Any, action: int) -> tuple[dict[str, Any], float, bool]:
    """One action without console output -> (observation, reward, episode over)."""
    with quiet():
        obs, reward, terminated, truncated, _ = env.step(int(action))
    return obs, float(reward), bool(terminated or truncated)


def max_steps(env: Any) -> int:
    """The level's step limit (episodes are truncated after it)."""
    return int(env.unwrapped.max_steps)


def image_of(obs: dict[str, Any]) -> np.ndarray:
    """The observation's image as a contiguous uint8 array (H, W, 3)."""
    import numpy as np

    return np.ascontiguousarray(obs["image"], dtype=np.uint8)


def cpu_count() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
