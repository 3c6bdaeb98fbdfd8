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
comparison assumes a UTF-8 locale. Rare constructs (SGML tags with odd attributes, scripts
whose combining marks the jar does not list, characters added to Unicode after 2014) may
differ. Tested against the jar on hand-checked captions and on random concatenations of
tricky fragments (``tests/test_vocab.py``).
"""

from __future__ import annotations

import re

from multimodal_rnn.text.ptb_lexer_rules import Action, candidate_rules

COCO_PUNCTUATION = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
     ".", "?", "!", ",", ":", "-", "--", "...", ";"]
)
"""Tokens that pycocoevalcap drops after tokenizing (compared with the lowercased token)."""

_FAST_WORD = re.compile(r"[A-Za-z]+(?=[ \n])")
_SPLIT_WORDS = frozenset(["cannot", "gonna", "gotta", "lemme", "gimme", "wanna"])
_LINE_BREAKS = re.compile("[\r\u2028\u2029\x0b\x0c]")


def ptb_tokens(text: str) -> list[str]:
    """Tokens of ``text`` as the Stanford PTB tokenizer 3.4.1 writes them (case preserved).

    Line breaks are read as spaces; nothing is dropped except what the jar deletes.
    """
    text = _LINE_BREAKS.sub(" ", text.replace("\n", " ")) + "\n"
    tokens: list[str] = []
    pos, end = 0, len(text) - 1
    while pos < end:
        fast = _FAST_WORD.match(text, pos)
        if fast and fast.group().lower() not in _SPLIT_WORDS:
            tokens.append(fast.group())
            pos = fast.end()
            continue
        best: tuple[int, Action, str] | None = None  # (length with context, action, token)
        for rule in candidate_rules(text[pos]):
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
    """Tokenize like pycocoevalcap's ``PTBTokenizer``: PTB tokens, lowercased, punctuation dropped."""
    lowered = (java_lower(token) for token in ptb_tokens(text))
    return [token for token in lowered if token not in COCO_PUNCTUATION]


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
