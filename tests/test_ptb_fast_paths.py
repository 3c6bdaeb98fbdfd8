"""The tokenizer's shortcuts (plain captions, tokens no other rule can beat, ASCII-only rules) give
exactly the tokens of the plain lexer: every candidate rule at every position, Unicode rules."""

from __future__ import annotations

import random
import shutil

import pytest

from multimodal_rnn.text.ptb_lexer_rules import candidate_rules
from multimodal_rnn.text.ptb_tokenizer import COCO_PUNCTUATION, coco_tokenize, java_lower, plain_coco_tokens, ptb_tokens

WORDS = (
    "a A an the The dog Dog DOG man's dogs isn't don't DON'T can't won't Ain't it's IT'S he'S "
    "cannot Cannot gonna Gonna wanna gimme etc Mr Mrs mr St st No no Co co Inc Jan jan Ph Dr vs v I U S "
    "x y Y Az az Mass mass Miss fig Fig Figs pp op art Calif Tex Pa pa est tel Ltd cf TREAS Mt "
    "cont nor ol y'all o'clock rock'n'roll '90s 'tis black-and-white T-shirt x-ray 2-year-old anti-war "
    "e-mail well-known 3 12 3.5 1,000 10:30 555-1234 555 1234 1/2 3/4 5 9 $5 "
    "hello world www com photo.jpg U.S. a.m. p.m."
).split()
SEPARATORS = '| | |  |, |,|. |! |? |... |"|" |) | (|: |; |:|-|\''.split("|")
ENDINGS = ["", ".", ".", " .", "!", "?", "...", "....", "?!", ". ", " ", ",", '."', ")", ".)", "\n"]
FRAGMENTS = (
    "a A the dog's dogs' it's don't can't I'm we're y'all cannot gonna o'clock O'Brien rock'n'roll '90s "
    ". , ; : ! ? ... .... - -- --- ( ) [ ] { } \" ' ` `` '' “ ” ‘ ’ & &amp; $ $5 US$ £ € ¥ % # @ * / + = _ < > "
    "<b> 3 3.5 1,000 10:30 -5 .5 1/2 ½ 1990s 3-4 2x4 3pm 1st 555-1234 black-and-white e-mail T-shirt and/or "
    "24/7 anti-war Mr. Dr. St. etc. vs. e.g. U.S. a.m. Inc. No. fig. AT&T at&t c++ :) :( :-) ;) :D ^_^ <3 "
    "café naïve 東京 straße ΣΟΦΟΣ İstanbul 😀 👍 ♥ © ° ² ₂ http://a.com/b?c=d www.example.com x@y.z @user #tag "
    "hello!world dog.a photo.jpg v1.2 x--y 'x' 6'2\" soft\u00adhyphen नमस्ते 。 Ｈｅｌｌｏ Kelvin\u212a ſtop"
).split(" ")


def reference_ptb_tokens(text: str) -> list[str]:
    """The lexer without shortcuts: the longest match of all candidate rules (Unicode rules) at every position."""
    text = text.replace("\n", " ")
    for char in "\r\u2028\u2029\x0b\x0c":
        text = text.replace(char, " ")
    text += "\n"
    tokens, pos = [], 0
    while pos < len(text) - 1:
        best = None
        for rule in candidate_rules(text[pos]):
            match = rule.pattern.match(text, pos)
            if match and (best is None or match.end() - pos > best[0]):
                best = (match.end() - pos, rule.action, match.group("tok"))
        assert best is not None
        token, consumed = best[1](best[2])
        if token is not None:
            tokens.append(token)
        pos += consumed
    return tokens


def reference_coco_tokens(text: str) -> list[str]:
    return [t for t in (java_lower(token) for token in reference_ptb_tokens(text)) if t not in COCO_PUNCTUATION]


def near_plain_captions(count: int, seed: int) -> list[str]:
    """Captions at the edges of the plain path: abbreviations, clitics, split words, odd punctuation."""
    rng = random.Random(seed)
    captions = []
    for _ in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(1, 7))]
        text = "".join(word + rng.choice(SEPARATORS) for word in words[:-1]) + words[-1]
        captions.append(rng.choice(["", "", " ", "A "]) + text + rng.choice(ENDINGS))
    return captions


def hostile_captions(count: int, seed: int) -> list[str]:
    """Random concatenations of unicode, quotes, contractions, numbers, URLs, abbreviations, emoji..."""
    rng = random.Random(seed)
    return [
        "".join(rng.choice(FRAGMENTS) + rng.choice(["", " ", " ", "  "]) for _ in range(rng.randint(1, 8)))
        for _ in range(count)
    ]


def plain_captions(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = "a A the The man dogs riding wave top surfboard kitchen STOP Sign etc Mr st No".split()
    return [
        " ".join(rng.choice(words) + rng.choice(["", "", ","]) for _ in range(rng.randint(1, 9)))
        + rng.choice(["", ".", " .", "!", "?", "...", ". ", " "])
        for _ in range(count)
    ]


CAPTIONS = near_plain_captions(1500, seed=1) + hostile_captions(700, seed=2) + plain_captions(500, seed=3)


def test_ptb_tokens_equal_the_lexer_without_shortcuts() -> None:
    mismatches = [
        (c, ptb_tokens(c), reference_ptb_tokens(c)) for c in CAPTIONS if ptb_tokens(c) != reference_ptb_tokens(c)
    ]
    assert mismatches == []


def test_coco_tokenize_and_the_plain_path_equal_the_lexer() -> None:
    plain = [c for c in CAPTIONS if plain_coco_tokens(c) is not None]
    assert len(plain) > 400  # the comparison covers the plain path, not only the fallback
    assert [c for c in plain if plain_coco_tokens(c) != reference_coco_tokens(c)] == []
    assert [c for c in CAPTIONS if coco_tokenize(c) != reference_coco_tokens(c)] == []


def test_what_the_plain_path_leaves_to_the_lexer() -> None:
    caption = "A man, riding a wave on top of a surfboard."
    assert plain_coco_tokens(caption) == "a man riding a wave on top of a surfboard".split()
    assert plain_coco_tokens("two dogs,three cats ...") == ["two", "dogs", "three", "cats"]
    assert plain_coco_tokens("Nothing at all ") == ["nothing", "at", "all"]
    left = ["See the St.", "Letter A.", "Mr. Smith", "It cannot", "We gonna", "Dogs?!", "a dog's bowl", "naïve"]
    for text in left + ["a\tdog", "a dog. a cat", "No. 5", "", " . "]:
        assert plain_coco_tokens(text) is None, text
    assert coco_tokenize("See the St.") == ["see", "the", "st."] and coco_tokenize("It cannot") == ["it", "can", "not"]


@pytest.mark.skipif(shutil.which("java") is None, reason="java is not installed")
def test_shortcut_edges_equal_pycocoevalcap_ptb_tokenizer() -> None:
    tokenizer = pytest.importorskip("pycocoevalcap.tokenizer.ptbtokenizer")
    # "zz " first: a caption's last token may depend on the next line in the jar's single stream
    captions = ["zz " + c.replace("\n", " ") for c in near_plain_captions(400, seed=4) + plain_captions(200, seed=5)]
    result = tokenizer.PTBTokenizer().tokenize({i: [{"caption": c}] for i, c in enumerate(captions)})
    assert [(c, result[i][0]) for i, c in enumerate(captions) if result[i][0] != " ".join(coco_tokenize(c))] == []
