"""Recurrent building blocks: cells, a Keras-like recurrent layer, the shared core and attention.

- :mod:`cells`: explicit vanilla/GRU/LSTM cells with ``torch.nn.RNN/GRU/LSTM``'s parameter layout;
- :mod:`layer`: :class:`RecurrentLayer` (fused torch.nn path or explicit loop, same weights);
- :mod:`core`: :class:`RecurrentCore`, the ``step``/``forward`` core every task head uses;
- :mod:`attention`: :class:`AdditiveAttention` over image grid features.
"""

from multimodal_rnn.recurrent.attention import AdditiveAttention
from multimodal_rnn.recurrent.cells import GRUCell, LSTMCell, State, VanillaRNNCell
from multimodal_rnn.recurrent.core import CoreConfig, RecurrentCore
from multimodal_rnn.recurrent.layer import RecurrentLayer
from multimodal_rnn.recurrent.layer_config import RecurrentConfig

__all__ = [
    "AdditiveAttention",
    "CoreConfig",
    "GRUCell",
    "LSTMCell",
    "RecurrentConfig",
    "RecurrentCore",
    "RecurrentLayer",
    "State",
    "VanillaRNNCell",
]
