"""The COCO caption evaluation's tokenizer (Stanford PTBTokenizer 3.4.1), in pure Python.

pycocoevalcap's ``PTBTokenizer`` pipes every caption, one per line, through the Stanford
CoreNLP 3.4.1 ``PTBTokenizer`` jar with ``-preserveLines -lowerCase`` and then drops the tokens
in :data:`COCO_PUNCTUATION`. This module re-implements that jar's lexer (a JFlex scanner:
longest match wins, ties go to the earlier rule, trailing context counts towards the length)
for the rules that caption text meets: words, clitics (``do n't``, ``it 's``), numbers
(``3.5``, ``1,000``, ``10:30``), hyphenated and slashed words (``black-and-white``,
``and/or``), abbreviations and acronyms (``mr.``, ``u.s.``), quotes, brackets (``-LRB-``),
currency (``$ 5``, ``£`` -> ``#``), URLs, e-mails, hashtags, emoticons and symbols. The rules,
abbreviation lists and normalisations were checked against the jar itself.

Quirks of the jar that are reproduced on purpose:

* brackets become ``-lrb-``/``-rrb-``/``-lsb-``... after lowercasing, so they are NOT dropped
  (pycocoevalcap's list holds the upper-case ``-LRB-``);
* spaces inside a token (``5 1/2``, phone numbers) become U+00A0;
* characters outside the Basic Multilingual Plane (emoji) are deleted;
* a period after an abbreviation stays in the token (``etc.``, ``st.``, ``p.m.``).

Known divergences: the jar reads all captions as one stream, so a caption's last token can
depend on the next caption (``... letter A.`` followed by ``Mr. ...`` gives ``a`` there, ``a.``
here); here each caption is read as if followed by a line break. ``\\r``, U+2028, U+2029,
``\\v`` and ``\\f`` are spaces here (the jar turns them into line breaks, which shifts
pycocoevalcap's output by a line). The jar reads its input in the platform encoding; the
comparison assumes a UTF-8 locale. A capital sigma before ``@`` in one token
(``3pmΣΟΦΟΣ@user``) lowers to σ here, ς in the jar (Java ends the word there). Rare
constructs (SGML tags with odd attributes, scripts whose combining marks the jar does not
list, characters added to Unicode after 2014) may differ. Tested against the jar on
hand-checked captions and on random concatenations of tricky fragments (``tests/test_vocab.py``).

Speed: most captions never reach the rules. :func:`plain_coco_tokens` answers captions of ASCII
words, spaces and commas with one final ``.``/``!``/``?``/``...`` by splitting them; inside the
lexer, words, clitics, hyphenated words and numbers whose end is plain are taken without trying
the rules, and ASCII text uses the rules with their Unicode classes cut to ASCII (quick to
build). Each shortcut only takes what no rule could take otherwise, and
``tests/test_ptb_fast_paths.py`` checks them against the lexer without shortcuts.
"""

from __future__ import annotations

import functools
import re

from multimodal_rnn.text.ptb_lexer_rules import PERIOD_WORDS, Action, candidate_rules

COCO_PUNCTUATION = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
     ".", "?", "!", ",", ":", "-", "--", "...", ";"]
)
"""Tokens that pycocoevalcap drops after tokenizing (compared with the lowercased token)."""

# Tokens that no other rule can beat at their start, when what follows them ends them (_ENDS: a
# space, a quote, a bracket, or punctuation and a space); the lexer still checks the words the jar
# splits and the words before a period. Alternatives: a word before n't, n't, a word before 's,
# 's, a hyphenated word, a word (group "period" if a period follows), a number (3, 3.5, 1,000,
# 10:30) before punctuation and a space, the end or a word, a period or ! or ? that ends a sentence.
_ENDS = '(?:[ \n")]|[,;:!?.][ \n])'
_FAST_TOKEN = re.compile(
    f"[A-Za-z]*[A-MO-Za-mo-z](?=n't{_ENDS})|n't(?={_ENDS})|[A-Za-z]+(?='s{_ENDS})|'s(?={_ENDS})"
    f'|[A-Za-z]+(?:-[A-Za-z0-9]+)+(?={_ENDS})|[A-Za-z]+(?=[ \n")]|[,;:!?][ \n]|(?P<period>\\.)[ \n])'
    "|[0-9]+(?:[.:,][0-9]+)*(?=[.,!?][ \n]|\n|[ ][A-Za-z])|\\.(?=\n|[ ][^.])|[!?](?=[ \n])"
)
_SPACES = re.compile("[ \t\u00a0\u2000-\u200a\u3000]+")
_SPLIT_WORDS = frozenset(["cannot", "gonna", "gotta", "lemme", "gimme", "wanna"])
_LINE_BREAKS = re.compile("[\r\u2028\u2029\x0b\x0c]")


def ptb_tokens(text: str) -> list[str]:
    """Tokens of ``text`` as the Stanford PTB tokenizer 3.4.1 writes them (case preserved).

    Line breaks are read as spaces; nothing is dropped except what the jar deletes.
    """
    text = _LINE_BREAKS.sub(" ", text.replace("\n", " ")) + "\n"
    tokens: list[str] = []
    pos, end, ascii_only = 0, len(text) - 1, text.isascii()
    while pos < end:
        if text[pos] == " ":  # the whitespace rule wins: nothing else starts with a space
            pos = _SPACES.match(text, pos).end()  # type: ignore[union-attr]
            continue
        fast = _FAST_TOKEN.match(text, pos)
        if fast:
            word = fast.group()
            if word.lower() not in _SPLIT_WORDS and not (fast.group("period") and _keeps_period(word)):
                tokens.append(word)
                pos = fast.end()
                continue
        best: tuple[int, Action, str] | None = None  # (length with context, action, token)
        for rule in candidate_rules(text[pos], ascii_only):
            match = rule.pattern.match(text, pos)
            if match and (best is None or match.end() - pos > best[0]):
                best = (match.end() - pos, rule.action, match.group("tok"))
        assert best is not None, "the catch-all rule always matches"
        token, consumed = best[1](best[2])
        if token is not None:
            tokens.append(token)
        pos += consumed
    return tokens


def coco_tokenize(text: str) -> list[str]:
    """Tokenize like pycocoevalcap's ``PTBTokenizer``: PTB tokens, lowercased, punctuation dropped.

    Plain captions (see :func:`plain_coco_tokens`) skip the lexer, and so does the plain start of
    the others (ASCII words, spaces and commas, up to a space): the lexer reads only the rest.
    Where the lexer is at depends on the text ahead only, and nothing in such a start reaches
    past its last space, so the tokens are the same.
    """
    plain = plain_coco_tokens(text)
    if plain is not None:
        return plain
    start = _PLAIN_START.match(text)
    tokens = start.group().replace(",", " ").lower().split() if start else []
    if not _SPLIT_WORDS.isdisjoint(tokens):
        start, tokens = None, []
    lowered = (java_lower(token) for token in ptb_tokens(text[start.end() :] if start else text))
    return tokens + [token for token in lowered if token not in COCO_PUNCTUATION]


_PLAIN_START = re.compile("[A-Za-z, ]* ")
_PLAIN_ENDINGS = frozenset(["", ".", "!", "?", "..."])


def plain_coco_tokens(text: str) -> list[str] | None:
    """:func:`coco_tokenize` of a plain caption without the lexer, or None if ``text`` is not plain.

    Plain: ASCII letters, spaces and commas, then optionally one of ``. ! ? ...`` (spaces
    around it allowed). On such text no rule but the word and punctuation rules can win, except
    for a word of :data:`~multimodal_rnn.text.ptb_lexer_rules.PERIOD_WORDS` right before the
    period and the words the jar splits (``cannot``, ``gonna``...): both send ``text`` to the
    lexer. The punctuation is all dropped, so the tokens are the lowercased words.
    """
    core = text.rstrip(" .!?")
    words = core.replace(",", " ")
    if not (core.isascii() and words.replace(" ", "").isalpha() and text[len(core):].strip(" ") in _PLAIN_ENDINGS):
        return None
    tokens = words.lower().split()
    if text[len(core) : len(core) + 1] == "." and core[-1] != "," and _keeps_period(core[-len(tokens[-1]) :]):
        return None
    return tokens if _SPLIT_WORDS.isdisjoint(tokens) else None


@functools.lru_cache(maxsize=8192)
def _keeps_period(word: str) -> bool:
    return PERIOD_WORDS.fullmatch(word) is not None


def java_lower(token: str) -> str:
    """``token.lower()`` as Java's ``String.toLowerCase`` does it on one token.

    The two differ on the Greek capital sigma only: Java writes the final form (ς) when a cased
    letter precedes it in the token and none follows it anywhere in the token.
    """
    if "\u03a3" not in token:
        return token.lower()
    chars = []
    for index, char in enumerate(token):
        if char == "\u03a3":
            before = any(_is_cased(c) for c in token[:index])
            after = any(_is_cased(c) for c in token[index + 1:])
            chars.append("\u03c2" if before and not after else "\u03c3")
        else:
            chars.append(char.lower())
    return "".join(chars)


def _is_cased(char: str) -> bool:
    return char.lower() != char or char.upper() != char
