"""Tests of the COCO caption tokenizer, the vocabulary and batch padding."""

from __future__ import annotations

import json
import random
import shutil

import pytest
import torch

from multimodal_rnn.errors import DataFormatError, InputError
from multimodal_rnn.text.ptb_tokenizer import COCO_PUNCTUATION, java_lower, ptb_tokens
from multimodal_rnn.text.vocab import SPECIAL_TOKENS, Vocabulary, pad_sequences, tokenize

# Outputs of pycocoevalcap's PTBTokenizer (Stanford CoreNLP 3.4.1 jar, Java 17, UTF-8 locale),
# produced once and checked by eye: clitics split, hyphen/slash words whole, brackets kept as
# -lrb-, abbreviation periods kept, emoji deleted, "5 1/2" joined by a no-break space.
COCO_CASES = [
    ('A man riding a wave on top of a surfboard.', 'a man riding a wave on top of a surfboard'),
    ("Two dogs don't like the cat's toy, it's 3.5 feet long!",
     "two dogs do n't like the cat 's toy it 's 3.5 feet long"),
    ('A group of 1,000 people (mostly kids) stand around.',
     'a group of 1,000 people -lrb- mostly kids -rrb- stand around'),
    ('He said "hello" and/or \'goodbye\' -- then left...', 'he said hello and/or goodbye then left'),
    ('A $5 bill & 50% off at AT&T, e.g. in the U.S.A. today.',
     'a $ 5 bill & 50 % off at at&t e.g. in the u.s.a. today'),
    ('A smiley :) face and a sad one :(', 'a smiley :-rrb- face and a sad one :-lrb-'),
    ('Café naïve résumé über 東京 — em-dash – en-dash', 'café naïve résumé über 東京 em-dash en-dash'),
    ('A black-and-white photo of a well-known 2-year-old dog.',
     'a black-and-white photo of a well-known 2-year-old dog'),
    ("I can't believe it won't fit; we're gonna need a bigger boat.",
     "i ca n't believe it wo n't fit we 're gon na need a bigger boat"),
    ('A sign that reads "STOP" at 10:30 a.m. on Jan. 5, 2015.',
     'a sign that reads stop at 10:30 a.m. on jan. 5 2015'),
    ("The men's room is on the 2nd floor, next to Dr. Smith's office.",
     "the men 's room is on the 2nd floor next to dr. smith 's office"),
    ('A plate with 1/2 a sandwich, 5 1/2 fries and ½ cup of soup.',
     'a plate with 1/2 a sandwich 5\xa01/2 fries and 1/2 cup of soup'),
    ('Kids play soccer [in the park] {outside} near St. Louis.',
     'kids play soccer -lsb- in the park -rsb- -lcb- outside -rcb- near st. louis'),
    ('What is the man holding? A frisbee!', 'what is the man holding a frisbee'),
    ('A woman/man with an umbrella #rainyday @home', 'a woman/man with an umbrella #rainyday @home'),
    ('A 24/7 store sells T-shirts for $9.99 each.', 'a 24/7 store sells t-shirts for $ 9.99 each'),
    ('Two giraffes... standing next to each other.', 'two giraffes standing next to each other'),
    ("A dog's bowl, the dogs' bowls, and the boss's car.",
     "a dog 's bowl the dogs bowls and the boss 's car"),
    ('"Look!" she said, \'it\'s a bird\'.', "look she said it 's a bird"),
    ("A x-ray of a person's hand; it shows 5 fingers.", "a x-ray of a person 's hand it shows 5 fingers"),
    ('The train is at platform 9 3/4 -- not 10.', 'the train is at platform 9\xa03/4 not 10'),
    ('A CAT ON A MAT; A BIRD: FLYING? YES!', 'a cat on a mat a bird flying yes'),
    ('Mr. and Mrs. Jones vs. the Smiths, etc.', 'mr. and mrs. jones vs. the smiths etc.'),
    ('A cake that says "Happy 30th Birthday, Mike!!!"', 'a cake that says happy 30th birthday mike !!!'),
    ('Visit www.example.com or email info@example.com for tickets.',
     'visit www.example.com or email info@example.com for tickets'),
    ("An old-fashioned clock reads 12 o'clock.", "an old-fashioned clock reads 12 o'clock"),
    ("Rock 'n' roll band playing in the '80s.", "rock 'n' roll band playing in the '80s"),
    ('A street sign for 5th Ave. & W. 34th St.', 'a street sign for 5th ave. & w. 34th st.'),
    ("Y'all should see this: a 3-D movie!", "y' all should see this a 3-d movie"),
    ('A £10 note, a €20 note and 100¥ on the table.', 'a # 10 note a $ 20 note and 100 ¥ on the table'),
    ('A jumbo jet (Boeing 747-400) on the runway.', 'a jumbo jet -lrb- boeing 747-400 -rrb- on the runway'),
    ('The temperature is 20°C ~ 68°F outside.', 'the temperature is 20 ° c ~ 68 ° f outside'),
    ('A laptop, a mouse & a keyboard on a desk', 'a laptop a mouse & a keyboard on a desk'),
    ("The kitchen's got a stove/oven combo.", "the kitchen 's got a stove/oven combo"),
    ("A man in a tie - he's smiling.", "a man in a tie he 's smiling"),
    ('A tennis player swings his racket ---- at the ball.', 'a tennis player swings his racket at the ball'),
    ('She\'s wearing a "Keep Calm" t-shirt.', "she 's wearing a keep calm t-shirt"),
    ('An elephant  walks   through the tall    grass.', 'an elephant walks through the tall grass'),
    ('A bowl of fruit: apples, oranges, bananas, etc.', 'a bowl of fruit apples oranges bananas etc.'),
    ('The bus number is #42 to downtown.', 'the bus number is # 42 to downtown'),
    ('People are waiting at the bus stop ...', 'people are waiting at the bus stop'),
    ('a man riding a skateboard down a ramp', 'a man riding a skateboard down a ramp'),
    ('A Ph.D. student presents at the conference.', 'a ph.d. student presents at the conference'),
    ('A bathroom with a toilet, sink, and mirror...', 'a bathroom with a toilet sink and mirror'),
    ('The time on the clock is 3:45pm.', 'the time on the clock is 3:45 pm'),
    ('This is a pic of my dog :-)', 'this is a pic of my dog :--rrb-'),
    ("What's this? It's a cat!", "what 's this it 's a cat"),
    ("A 1990's style car parked on the street.", "a 1990 's style car parked on the street"),
    ("A child's drawing of a house & sun.", "a child 's drawing of a house & sun"),
    ('A sign says: "No Parking 8AM-6PM".', 'a sign says no parking 8am-6pm'),
    ('An image of the number 3.14159', 'an image of the number 3.14159'),
    ('The pizza is cut into 8 slices (each 1/8).', 'the pizza is cut into 8 slices -lrb- each 1/8 -rrb-'),
    ('He\'s 6\'2" tall & weighs 200 lbs.', "he 's 6 2 tall & weighs 200 lbs"),
    ('An "open" sign in a shop window.', 'an open sign in a shop window'),
    ('A cowboy rides a horse at the rodeo -- yeehaw!', 'a cowboy rides a horse at the rodeo yeehaw'),
    ('Two zebras grazing in a field ; one looks up', 'two zebras grazing in a field one looks up'),
    ('A man with a hat...and a cane', 'a man with a hat and a cane'),
    ("Here's a photo of ME & my friends!!", "here 's a photo of me & my friends !!"),
    ('A 2x4 piece of wood, a hammer, and nails.', 'a 2x4 piece of wood a hammer and nails'),
    ('A dog wearing a Santa hat (for Christmas)!', 'a dog wearing a santa hat -lrb- for christmas -rrb-'),
    ('Close-up of a red rose w/ water droplets.', 'close-up of a red rose w / water droplets'),
    ('A player in #23 jersey dunks the ball.', 'a player in # 23 jersey dunks the ball'),
    ('It is a photo.jpg of a cat.', 'it is a photo.jpg of a cat'),
    ('The menu lists soup, salad & bread -- $12.', 'the menu lists soup salad & bread $ 12'),
    ('Emoji 😀 in a caption 👍 should vanish.', 'emoji in a caption should vanish'),
    ('Nothing but punctuation: ... ?! --', 'nothing but punctuation ?!'),]

# Fragments whose random concatenations exercise the lexer's longest-match rules.
FRAGMENTS = (
    "a A the dog's dogs' it's don't can't I'm we're y'all cannot gonna o'clock O'Brien rock'n'roll '90s "
    ". , ; : ! ? ... .... - -- --- ( ) [ ] { } \" ' ` `` '' “ ” ‘ ’ & &amp; $ $5 US$ £ € ¥ % # @ * / + = _ < > "
    "<b> 3 3.5 1,000 10:30 -5 .5 1/2 ½ 1990s 3-4 2x4 3pm 1st 555-1234 black-and-white e-mail T-shirt and/or "
    "24/7 anti-war Mr. Dr. St. etc. vs. e.g. U.S. a.m. Inc. No. fig. AT&T at&t c++ :) :( :-) ;) :D ^_^ <3 "
    "café naïve 東京 straße ΣΟΦΟΣ İstanbul 😀 ♥ © ° ² ₂ http://a.com/b?c=d www.example.com x@y.z @user #tag "
    "hello!world dog.a photo.jpg v1.2 x--y 'x' 6'2\" soft\u00adhyphen नमस्ते 。 Ｈｅｌｌｏ"
).split(" ")


@pytest.mark.parametrize("caption, expected", COCO_CASES)
def test_tokenize_matches_the_coco_evaluation_tokenizer(caption: str, expected: str) -> None:
    assert " ".join(tokenize(caption)) == expected


def test_raw_ptb_tokens_keep_case_quotes_and_brackets() -> None:
    assert ptb_tokens('He said "Hi" (twice).') == ["He", "said", "``", "Hi", "''", "-LRB-", "twice", "-RRB-", "."]
    assert ptb_tokens("etc. The end") == ["etc.", ".", "The", "end"]  # period repeated before a capital
    assert ptb_tokens("") == [] and tokenize("  \n ") == []
    assert {"-LRB-", "''", "``", "...", "--"} <= COCO_PUNCTUATION


def test_line_breaks_inside_a_caption_are_spaces() -> None:
    assert tokenize("a dog\non a\r\nmat") == ["a", "dog", "on", "a", "mat"]


def test_java_lowercasing_of_final_sigma() -> None:
    assert java_lower("ΣΟΦΟΣ") == "σοφος"
    assert java_lower("ΣΟΦΟΣ-a") == "σοφοσ-a"  # a cased letter follows somewhere in the token
    assert java_lower("İSTANBUL") == "i̇stanbul"


def _random_captions(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    captions = []
    for _ in range(count):
        parts = [rng.choice(FRAGMENTS) + rng.choice(["", " ", " ", "  "]) for _ in range(rng.randint(1, 8))]
        captions.append("zz " + "".join(parts).strip() + " zz")  # lowercase ends: no cross-line context
    return captions


@pytest.mark.skipif(shutil.which("java") is None, reason="java is not installed")
def test_tokenize_equals_pycocoevalcap_ptb_tokenizer() -> None:
    tokenizer = pytest.importorskip("pycocoevalcap.tokenizer.ptbtokenizer")
    captions = [caption for caption, _ in COCO_CASES] + _random_captions(400, seed=7)
    result = tokenizer.PTBTokenizer().tokenize({i: [{"caption": c}] for i, c in enumerate(captions)})
    mismatches = [(c, result[i][0], " ".join(tokenize(c))) for i, c in enumerate(captions)
                  if result[i][0] != " ".join(tokenize(c))]
    assert mismatches == []


def _vocab() -> Vocabulary:
    return Vocabulary.build([["a", "dog", "runs"], ["a", "cat", "runs"], ["a", "dog"]])


def test_special_tokens_have_fixed_distinct_ids() -> None:
    vocab = _vocab()
    ids = (vocab.pad_id, vocab.bos_id, vocab.eos_id, vocab.unk_id)
    assert ids == (0, 1, 2, 3)
    assert [vocab.token_of(i) for i in ids] == list(SPECIAL_TOKENS)


def test_build_orders_by_count_then_token() -> None:
    vocab = _vocab()
    assert vocab.tokens == SPECIAL_TOKENS + ("a", "dog", "runs", "cat")
    assert len(vocab) == 8 and "dog" in vocab and "bird" not in vocab


def test_build_min_count_and_max_size() -> None:
    data = [["a", "dog", "runs"], ["a", "cat", "runs"], ["a", "dog"], ["<unk>", "<pad>"]]
    assert Vocabulary.build(data, min_count=2).tokens[4:] == ("a", "dog", "runs")
    assert Vocabulary.build(data, max_size=2).tokens[4:] == ("a", "dog")
    assert Vocabulary.build(data, max_size=0).tokens == SPECIAL_TOKENS
    with pytest.raises(ValueError):
        Vocabulary.build(data, min_count=0)


def test_encode_decode_round_trip_and_unknown_words() -> None:
    vocab = _vocab()
    ids = vocab.encode("A dog runs.")
    assert ids == [1, 4, 5, 6, 2]
    assert vocab.decode(ids) == ["a", "dog", "runs"]
    assert vocab.decode_text(torch.tensor(ids + [0, 0])) == "a dog runs"
    assert vocab.encode(["a", "zebra"], add_bos=False, add_eos=False) == [4, vocab.unk_id]
    assert vocab.decode([1, 4, 3, 2, 5]) == ["a", "<unk>"]  # stops at <eos>, keeps <unk>
    assert vocab.decode([1, 4, 2, 5], strip_special=False) == ["<bos>", "a", "<eos>"]


def test_encode_max_length_keeps_eos() -> None:
    vocab = _vocab()
    assert vocab.encode(["a", "dog", "runs", "a"], max_length=4) == [1, 4, 5, 2]
    assert vocab.encode(["a", "dog"], max_length=2) == [1, 2]
    assert vocab.encode(["a", "dog"], max_length=1, add_bos=False) == [2]
    with pytest.raises(ValueError):
        vocab.encode(["a"], max_length=1)


def test_invalid_vocabularies_are_refused() -> None:
    with pytest.raises(ValueError):
        Vocabulary(["a", "<pad>", "<bos>", "<eos>", "<unk>"])
    with pytest.raises(ValueError):
        Vocabulary(list(SPECIAL_TOKENS) + ["a", "a"])
    with pytest.raises(IndexError):
        _vocab().token_of(99)


def test_dict_and_json_round_trip(tmp_path) -> None:
    vocab = Vocabulary.build([["naïve", "東京", "dog"]])
    assert Vocabulary.from_dict(json.loads(json.dumps(vocab.to_dict()))) == vocab
    path = tmp_path / "sub" / "vocab.json"
    vocab.save(path)
    assert Vocabulary.load(path) == vocab
    assert [p.name for p in path.parent.iterdir()] == ["vocab.json"]  # no temporary file left


@pytest.mark.parametrize("content, message", [
    ("{not json", "invalid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"format": "other", "version": 1, "tokens": []}', "not a multimodal_rnn.vocabulary"),
    ('{"format": "multimodal_rnn.vocabulary", "version": 1, "tokens": ["a"]}', "must start with"),
    ('{"format": "multimodal_rnn.vocabulary", "version": 1, "tokens": [1, 2]}', "non-empty strings"),
    ('{"format": "multimodal_rnn.vocabulary", "version": 1, "tokens": [], "extra": 1}', "unknown key"),
])
def test_load_malformed_file_raises_one_line_error(tmp_path, content: str, message: str) -> None:
    path = tmp_path / "vocab.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=message) as info:
        Vocabulary.load(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_load_missing_file(tmp_path) -> None:
    with pytest.raises(InputError, match="not found"):
        Vocabulary.load(tmp_path / "missing.json")


def test_pad_sequences() -> None:
    ids, lengths = pad_sequences([[1, 4, 2], [1, 2], [1]], pad_id=0)
    assert ids.dtype == torch.long and ids.tolist() == [[1, 4, 2], [1, 2, 0], [1, 0, 0]]
    assert lengths.tolist() == [3, 2, 1]
    empty_ids, empty_lengths = pad_sequences([], pad_id=0)
    assert empty_ids.shape == (0, 0) and empty_lengths.shape == (0,)
