"""Speed of the COCO caption tokenizer against pycocoevalcap's ``PTBTokenizer`` (the Java jar).

Tokenizes ``--captions`` raw captions (default 30,000: half shapes-world captions, half
COCO-style sentences with capitals, commas, periods, numbers, times, quotes, possessives,
contractions, brackets and hyphenated words) with
:func:`multimodal_rnn.text.ptb_tokenizer.coco_tokenize` (``multimodal_rnn.text.vocab.tokenize``)
and with pycocoevalcap's ``PTBTokenizer().tokenize(...)`` as a user runs it: one call on the
whole ``{id: [{"caption": ...}]}`` dict, which writes a temporary file and starts a JVM running
stanford-corenlp-3.4.1.jar (the JVM start is counted). Rounds alternate the two; the script
prints the median ratio with its spread beside the load average, the number of captions whose
tokens differ (must be 0), the first call in a fresh Python process (module import and lexer
rules included, the interpreter start not), and our time on 5,000 images x 5 COCO-style
references. Without Java or pycocoevalcap it says so and times ours only.

    python benchmarks/tokenizer_speed.py                  # 30,000 captions, 7 rounds
    python benchmarks/tokenizer_speed.py --captions 5000 --repeats 3
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from timing import Load, interleaved, machine_line, ratio_text

from multimodal_rnn.datasets.shapes.captions import captions_for
from multimodal_rnn.datasets.shapes.scene import ShapesConfig, make_scene
from multimodal_rnn.text.ptb_tokenizer import coco_tokenize

SUBJECTS = (
    "man,woman,dog,cat,group of people,young boy,little girl,bus,train,giraffe,plate of food,couple of elephants,"
    "tennis player,skateboarder,kitchen,bathroom,pizza,clock tower,baseball player,surfer,bird,horse,teddy bear,"
    "motorcycle,laptop"
).split(",")
VERBS = (
    "riding,standing next to,sitting on,holding,eating,walking down,looking at,flying over,playing with,"
    "parked in front of,laying on,covered in,jumping over,waiting for"
).split(",")
OBJECTS = (
    "a wave,the street,a table,a red frisbee,a large window,the snow,a grassy field,a white plate,the beach,"
    "a wooden bench,a busy road,the ocean,a brick building,a fence"
).split(",")
TAILS = ["", "", "", " on top of a surfboard", " in the rain", " at night", " near a fence", " with trees"]
EXTRAS = [
    lambda rng: f", {rng.choice(['and', 'while'])} {rng.choice(OBJECTS)} {rng.choice(['is', 'sits'])} nearby",
    lambda rng: f" with {rng.randint(2, 12)} {rng.choice(['people', 'birds', 'cars'])} around",
    lambda rng: f' with a sign that says "{rng.choice(["STOP", "Open", "No Parking", "Sale!"])}"',
    lambda rng: f" next to the {rng.choice(['man', 'dog', 'cat'])}'s {rng.choice(['bag', 'bowl', 'car'])}",
    lambda rng: f" that {rng.choice(['is', 'does', 'was'])}n't moving",
    lambda rng: f" at {rng.randint(1, 12)}:{rng.randint(10, 59)} p.m. on Jan. {rng.randint(1, 28)}",
    lambda rng: f" (and a {rng.choice(['black-and-white', 'well-known', '2-year-old'])} {rng.choice(SUBJECTS)})",
    lambda rng: f" for ${rng.randint(1, 99)}.{rng.randint(10, 99)}",
]
ENDINGS = [".", ".", ".", ".", "", "", " .", "!", "...", ". ", " "]


def coco_like_caption(rng: random.Random) -> str:
    """One COCO-style caption: mostly plain sentences, a third with numbers, quotes, clitics, brackets..."""
    start = rng.choice(["A", "A", "A", "The", "Two", "a", "the", "An old", "Three", "Some"])
    caption = f"{start} {rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(TAILS)}"
    if rng.random() < 0.33:
        caption += rng.choice(EXTRAS)(rng)
    return caption + rng.choice(ENDINGS)


def shapes_captions(count: int, seed: int) -> list[str]:
    """``count`` captions of the shapes world (five per scene), as ``mmrnn data shapes`` writes them."""
    rng, config, captions = random.Random(seed), ShapesConfig(seed=seed), []
    while len(captions) < count:
        captions.extend(captions_for(make_scene(rng, config), rng))
    return captions[:count]


def ours(captions: list[str]) -> dict[int, list[str]]:
    """Our tokens in pycocoevalcap's output form: ``{id: ["token token ..."]}``."""
    return {i: [" ".join(coco_tokenize(caption))] for i, caption in enumerate(captions)}


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence the jar's "PTBTokenizer tokenized N tokens..." line (file descriptor 2, inherited)."""
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def cold_seconds(captions: list[str], repeats: int) -> list[float]:
    """Seconds of the first tokenization in fresh Python processes (import and lexer rules included)."""
    child = (
        "import sys, time\nstart = time.perf_counter()\nfrom multimodal_rnn.text.ptb_tokenizer import coco_tokenize\n"
        "lines = sys.stdin.read().split('\\n')\n[coco_tokenize(line) for line in lines]\n"
        "print(time.perf_counter() - start)\n"
    )
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    text = "\n".join(caption.replace("\n", " ") for caption in captions)
    runs = [
        subprocess.run([sys.executable, "-c", child], input=text, capture_output=True, text=True, env=env)
        for _ in range(repeats)
    ]
    return [float(run.stdout) for run in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", type=int, default=30000, help="raw captions, half shapes, half COCO-style")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    captions = shapes_captions(args.captions // 2, args.seed)
    captions += [coco_like_caption(rng) for _ in range(args.captions - len(captions))]
    rng.shuffle(captions)
    inputs = {i: [{"caption": caption}] for i, caption in enumerate(captions)}
    print(machine_line())
    print(f"{len(captions)} captions ({len(set(captions))} distinct), 1 thread")

    try:
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    except ImportError:
        PTBTokenizer = None
    if PTBTokenizer is None or shutil.which("java") is None:
        missing = "pycocoevalcap" if PTBTokenizer is None else "java"
        print(f"{missing} is missing: timing ours only")
        with Load() as load:
            times = interleaved({"ours": lambda: ours(captions)}, args.repeats).times["ours"]
        print(f"ours {statistics.median(times):.3f} s (median of {args.repeats}), {load}")
    else:

        def jar() -> dict[int, list[str]]:
            with quiet_stderr():
                return PTBTokenizer().tokenize(inputs)

        official, mine = jar(), ours(captions)
        mismatches = [i for i in official if official[i] != mine[i]]
        print(f"captions whose tokens differ from the jar's: {len(mismatches)}")
        for i in mismatches[:5]:
            print(f"  {captions[i]!r}: jar {official[i][0]!r}, ours {mine[i][0]!r}")
        with Load() as load:
            rounds = interleaved({"jar": jar, "ours": lambda: ours(captions)}, args.repeats)
        print(
            f"jar (JVM start included) {rounds.median('jar'):.3f} s, ours {rounds.median('ours'):.3f} s "
            f"(medians of {args.repeats}); jar/ours {ratio_text(rounds.ratio('jar', 'ours'))}, {load}"
        )
        with Load() as load:
            cold = cold_seconds(captions, 3)
        print(
            f"ours, first call in a fresh process: {statistics.median(cold):.3f} s (median of 3); "
            f"jar/ours {rounds.median('jar') / statistics.median(cold):.2f}, {load}"
        )

    references = [coco_like_caption(rng) for _ in range(5000 * 5)]
    with Load() as load:
        start = time.perf_counter()
        [coco_tokenize(reference) for reference in references]
        seconds = time.perf_counter() - start
    print(
        f"ours on 5,000 images x 5 COCO-style references: {seconds:.3f} s "
        f"({len(references) / seconds:,.0f} captions/s), {load}"
    )


if __name__ == "__main__":
    main()
