"""Evaluation metrics as pure functions over plain Python data, checked against the official tools.

Captioning (COCO caption evaluation, pycocoevalcap): :mod:`.bleu`, :mod:`.rouge`, :mod:`.cider`
(CIDEr-D, also the reusable :class:`~multimodal_rnn.metrics.cider.CiderD` reward scorer),
:mod:`.meteor` (the METEOR 1.5 jar, when Java is present), :mod:`.caption` (tokenized or raw
text in, every caption metric out) and :mod:`.nltk_bleu` (NLTK's corpus BLEU-4, for comparison).
:mod:`.corpus` holds the input checks and the result type the caption metrics share;
:mod:`.ngrams` counts a corpus's n-grams as numpy arrays, once for BLEU and CIDEr-D.
Navigation: :mod:`.navigation` (success rate, episode length, SPL).
"""
