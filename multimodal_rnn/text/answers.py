"""Answer normalization of the official VQA evaluation (GT-Vision-Lab/VQA ``vqaEval.py``, master).

The official evaluation cleans every answer (prediction and human) by turning newlines and tabs
into spaces and stripping the ends (:func:`clean_whitespace`). When the human answers of a
question are not all identical it then normalizes both sides with :func:`process_punctuation`
followed by :func:`process_digit_article`; :func:`process_answer` is the whole chain, the
function to build answer vocabularies with. Every quirk of the official code is kept:

- punctuation: a symbol of :data:`PUNCTUATION` is deleted everywhere when it stands next to a
  space somewhere in the text as it was before any symbol was handled, or when that text holds a
  digit-comma-digit pattern (``"1,000"``); otherwise every occurrence becomes a space. So
  ``"t-shirt"`` -> ``"t shirt"`` but ``"t-shirt -"`` -> ``"tshirt"``. Apostrophes, colons and
  periods are not in the list.
- periods: the official pattern ``(?!<=\\d)(\\.)(?!\\d)`` (its first group is a lookahead for the
  literal ``"<="``, so it never fires) deletes periods not followed by a digit (``"yes."`` ->
  ``"yes"``, ``"3.5"`` kept). The official call passes ``re.UNICODE`` (= 32) where ``re.sub``
  takes its count, so at most 32 periods are deleted.
- words: lowercase, split on whitespace, number words ``none``/``zero``..``ten`` -> ``0``..``10``,
  drop the articles ``a``/``an``/``the``, expand the apostrophe-less contractions of
  :data:`CONTRACTIONS` (the official 120-entry table; its keys ``"Im"``, ``"Ive"``, ``"Id've"`` and
  ``"I'dve"`` hold a capital and never match lowercased text, so ``"im"`` stays ``"im"``), and
  join with single spaces.

Regexes run with Python 3 semantics (``\\d`` matches any Unicode decimal digit), as in every
Python 3 port of the official tool.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

PUNCTUATION: tuple[str, ...] = (
    ";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!",
)
"""The symbols :func:`process_punctuation` deletes or turns into spaces, in the official order."""

NUMBER_WORDS: dict[str, str] = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}
"""Whole words written as digits by :func:`process_digit_article`."""

ARTICLES: frozenset[str] = frozenset({"a", "an", "the"})
"""Whole words dropped by :func:`process_digit_article`."""

CONTRACTIONS: dict[str, str] = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't",
    "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm", "Ive": "I've",
    "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll", "let's": "let's",
    "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've", "mightn'tve": "mightn't've",
    "mightve": "might've", "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at",
    "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've", "she's": "she's", "shouldve": "should've",
    "shouldnt": "shouldn't", "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've", "somebodyll": "somebody'll",
    "somebodys": "somebody's", "someoned": "someone'd", "someoned've": "someone'd've", "someone'dve": "someone'd've",
    "someonell": "someone'll", "someones": "someone's", "somethingd": "something'd",
    "somethingd've": "something'd've", "something'dve": "something'd've", "somethingll": "something'll",
    "thats": "that's", "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've", "they'dve": "they'd've",
    "theyll": "they'll", "theyre": "they're", "theyve": "they've", "twas": "'twas", "wasnt": "wasn't",
    "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've", "werent": "weren't", "whatll": "what'll",
    "whatre": "what're", "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've",
    "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll", "whyre": "why're", "whys": "why's",
    "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've", "youd": "you'd",
    "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll", "youre": "you're", "youve": "you've",
}
"""The official contraction table, entry for entry (some entries are odd, e.g. ``"somebody'd"`` ->
``"somebodyd"``; they are kept because the official scores depend on them)."""

MAX_PERIODS_DELETED = 32
"""``re.UNICODE``, passed by the official code as the ``count`` of ``re.sub``."""

_DIGIT_COMMA_DIGIT = re.compile(r"(\d)(,)(\d)")
_PERIOD = re.compile(r"(?!<=\d)(\.)(?!\d)")
_ANY_SYMBOL = re.compile("[" + re.escape("".join(PUNCTUATION)) + ".]")


def clean_whitespace(text: str) -> str:
    """Newlines and tabs become spaces, then the ends are stripped (applied to every answer)."""
    return text.replace("\n", " ").replace("\t", " ").strip()


def process_punctuation(text: str) -> str:
    """The official ``processPunctuation``: delete or space out symbols, then delete periods.

    Whether a symbol is deleted or replaced by a space is decided on ``text`` as given, once per
    symbol, before any symbol is handled (see the module docstring).
    """
    if _ANY_SYMBOL.search(text) is None:
        return text
    delete_all = _DIGIT_COMMA_DIGIT.search(text) is not None
    result = text
    for symbol in PUNCTUATION:
        if delete_all or symbol + " " in text or " " + symbol in text:
            result = result.replace(symbol, "")
        else:
            result = result.replace(symbol, " ")
    return _PERIOD.sub("", result, count=MAX_PERIODS_DELETED)


def process_digit_article(text: str) -> str:
    """The official ``processDigitArticle``: lowercase, number words to digits, no articles, contractions."""
    words = []
    for word in text.lower().split():
        word = NUMBER_WORDS.get(word, word)
        if word not in ARTICLES:
            words.append(CONTRACTIONS.get(word, word))
    return " ".join(words)


def process_answer(text: str) -> str:
    """The full official normalization of one answer: whitespace, punctuation, digits/articles/contractions.

    This is what the official evaluation compares when a question's human answers differ, and
    the key to build answer vocabularies and soft scores with. ``"A Dog!"`` -> ``"dog"``,
    ``"two"`` -> ``"2"``, ``"dont"`` -> ``"don't"``, ``"1,000"`` -> ``"1000"``.
    """
    return process_digit_article(process_punctuation(clean_whitespace(text)))


_SOFT_SCORE_BY_COUNT = (0.0, 0.3, 0.6, 0.9)  # 4 or more agreeing humans -> 1.0


def soft_scores(human_answers: Sequence[str]) -> dict[str, float]:
    """Training target: ``min(1, 0.3 * count)`` per distinct normalized human answer.

    Every answer goes through :func:`process_answer` (also when all answers are identical, so
    the keys match a vocabulary built with it) and the scores are exactly 0.3, 0.6, 0.9 and 1.0.
    How this differs from :func:`multimodal_rnn.metrics.vqa.question_accuracy`: the official
    accuracy compares raw (only whitespace-cleaned) strings when all answers are identical,
    averages over leave-one-out subsets (which equals these values, up to float rounding, only
    when there are exactly 10 answers: 3 answers of which 2 match give 4/9, not 0.6), and drops
    repeated answer records in :func:`~multimodal_rnn.metrics.vqa.evaluate_vqa`.

    Returns:
        normalized answer -> score in (0, 1], in order of first appearance.
    """
    counts = Counter(process_answer(answer) for answer in human_answers)
    return {answer: _SOFT_SCORE_BY_COUNT[count] if count < 4 else 1.0 for answer, count in counts.items()}
