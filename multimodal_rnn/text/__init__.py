"""Text building blocks every task shares: the COCO (PTB) tokenizer, the vocabulary and VQA answer
normalization (:mod:`.ptb_tokenizer`, :mod:`.vocab`, :mod:`.answers`). Layer 1: nothing here knows
about models, datasets or metrics."""
