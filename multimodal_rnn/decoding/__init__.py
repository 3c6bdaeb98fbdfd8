"""Decoding algorithms over the one-step decoder contract: greedy, sampling and batched beam search.

The step() contract
-------------------
A decoder is a pair ``(state, context)`` and a callable
``step(tokens, state, context) -> (logprobs, state)``; models build the pair once per batch,
e.g. ``state, context = model.start(encoded)``:

- ``tokens``: (R,) LongTensor, the token fed at this step (``bos_id`` first, then the previous output);
- ``logprobs``: (R, V) log-probabilities of the next token;
- ``state``: the **recurrent** state (hidden and cell states, the last attention weights, ...):
  a nested tuple/namedtuple/list/dict of tensors, every tensor batch-first (dim 0 = R); other
  leaves (None, ints, strings) pass through untouched. ``step`` returns the next one. Beam
  search gathers its rows from the parent beams after every step;
- ``context``: the **static** per-item context (grid features, their attention projections,
  anything computed once per image and read at every step), nested like the state, or None.
  ``step`` only reads it (no in-place change) and does not put it into the state it returns.

Compaction: finished rows leave the batch
-----------------------------------------
``step`` runs only on rows that can still change an answer. Greedy decoding drops a row once it
emitted eos. Beam search keeps, per item, only the live beams that can still beat the item's
``n_best``-th finished hypothesis (so at most ``beam_size``, fewer as hypotheses finish), and an
item leaves with its last beam; the first step runs one beam per item on the caller's own
state and context. Rows are grouped by item, in item order. The recurrent state is gathered
(:func:`select_state`) after every beam step, from the parent beams. The context is gathered
only when the row set changes (a row left, or an item's beams branched out or shrank) and is
otherwise handed, the same object, to the next step: reordering the beams of an item never
touches it. Results are those of the uncompacted search: a dropped beam could only produce
hypotheses (or outrank candidates) scoring at most the threshold it failed to beat. Sampling
keeps every row (ended rows are fed ``pad_id``), so a seeded generator draws what it drew with
a fixed batch; its context is expanded once to B * num_samples rows (rows b*k .. b*k+k-1 are
item b) and handed unchanged to every step.

Teacher forcing, greedy decoding, sampling (self-critical training) and beam search all call
the same ``step``. The algorithms never look inside a state or a context: they only call
``step`` and move batch rows with :func:`expand_state` and :func:`select_state`.

Conventions shared by every function here:

- ``max_length`` counts generated tokens, the end-of-sentence token included;
- a sequence is a list of token ids without bos and without eos;
- a score is the sum of the log-probabilities (natural log) of the generated tokens, the eos
  included when it was emitted; beam search with ``length_penalty > 0`` divides it by the
  GNMT penalty ``((5 + length) / 6) ** length_penalty`` where ``length`` counts the eos too;
- ``record`` names a key of a dict state whose (R, ...) tensor is read after every step and
  returned, per sequence, as a (len(sequence), ...) tensor: row i is the value at the step that
  produced word i (for example the attention weights used to choose that word).

Modules: :mod:`.state` (the contract's types, row helpers), :mod:`.greedy`, :mod:`.sampling`,
:mod:`.loop` (their shared loop), :mod:`.beam`, :mod:`.hypotheses` (beam search's finished
pool), :mod:`.outputs` (result types), :mod:`.checks` (argument checks).
"""

from multimodal_rnn.decoding.beam import beam_search
from multimodal_rnn.decoding.greedy import greedy_decode
from multimodal_rnn.decoding.outputs import BeamOutput, DecodeOutput
from multimodal_rnn.decoding.sampling import sample_decode
from multimodal_rnn.decoding.state import (
    Context,
    State,
    StepFn,
    expand_state,
    map_state,
    select_state,
)

__all__ = [
    "BeamOutput",
    "Context",
    "DecodeOutput",
    "State",
    "StepFn",
    "beam_search",
    "expand_state",
    "greedy_decode",
    "map_state",
    "sample_decode",
    "select_state",
]
