"""METEOR 1.5 through the jar shipped with pycocoevalcap, exactly as the COCO caption evaluation runs it.

The jar runs as ``java -jar -Xmx2G meteor-1.5.jar - - -stdio -l en -norm`` in pycocoevalcap's
``meteor/`` folder (it needs ``data/paraphrase-en.gz`` there). For each image one line
``SCORE ||| ref 1 ||| ... ||| ref k ||| candidate`` returns that image's statistics; one line
``EVAL ||| stats 1 ||| ... ||| stats N`` then returns the N per-image scores and the corpus
score (METEOR aggregates statistics; the corpus score is not the mean of the image scores).
As in the official wrapper, ``|||`` is removed from candidates and double spaces collapsed once.

Starting the jar loads a paraphrase table and takes 5-20 s. Without Java or pycocoevalcap the
result is a :class:`MetricUnavailable` with the reason, never an exception.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import IO

from multimodal_rnn.metrics.corpus import Candidates, MetricScore, MetricUnavailable, References, check_corpus

METEOR_JAR = "meteor-1.5.jar"
METEOR_ARGS = ("-", "-", "-stdio", "-l", "en", "-norm")
METEOR_TIMEOUT_S = 1800.0


def find_meteor_jar() -> Path | None:
    """Path of pycocoevalcap's ``meteor-1.5.jar``, or None when pycocoevalcap is not installed."""
    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        jar = Path(location) / "meteor" / METEOR_JAR
        if jar.is_file():
            return jar
    return None


def _read_line(stream: IO[bytes]) -> str:
    line = stream.readline()
    if not line:
        raise EOFError("the METEOR jar closed its output")
    return line.decode("utf-8").strip()


def _run_jar(process: subprocess.Popen[bytes], references: References, candidates: Candidates) -> MetricScore:
    """Talk to a running jar: one SCORE line per image, then one EVAL line over all of them."""
    assert process.stdin is not None and process.stdout is not None
    image_ids = list(candidates)
    statistics = []
    for image_id in image_ids:
        candidate = candidates[image_id].replace("|||", "").replace("  ", " ")
        line = " ||| ".join(("SCORE", " ||| ".join(references[image_id]), candidate))
        process.stdin.write(f"{line}\n".encode())
        process.stdin.flush()
        statistics.append(_read_line(process.stdout))
    process.stdin.write(f"EVAL ||| {' ||| '.join(statistics)}\n".encode())
    process.stdin.flush()
    per_image = {image_id: float(_read_line(process.stdout)) for image_id in image_ids}
    return MetricScore("METEOR", float(_read_line(process.stdout)), per_image)


def meteor_score(
    references: References,
    candidates: Candidates,
    *,
    java: str = "java",
    timeout_s: float = METEOR_TIMEOUT_S,
) -> MetricScore | MetricUnavailable:
    """Corpus and per-image METEOR 1.5 (``METEOR``), or :class:`MetricUnavailable` with a reason.

    Args:
        references: image id -> tokenized reference captions.
        candidates: image id -> one tokenized candidate caption; same ids as ``references``.
        java: the Java executable.
        timeout_s: wall-clock limit for the whole jar run, in seconds.

    Raises:
        InputError: mismatched ids, an image without references, or a non-string caption.
    """
    check_corpus(references, candidates)
    if shutil.which(java) is None:
        return MetricUnavailable("METEOR", f"METEOR needs Java: {java!r} not found on PATH")
    jar = find_meteor_jar()
    if jar is None:
        return MetricUnavailable("METEOR", f"METEOR needs pycocoevalcap's {METEOR_JAR} (pip install pycocoevalcap)")
    command = [java, "-jar", "-Xmx2G", jar.name, *METEOR_ARGS]
    timed_out = threading.Event()
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            command, cwd=jar.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
        )

        def stop_on_timeout() -> None:
            timed_out.set()
            process.kill()

        watchdog = threading.Timer(timeout_s, stop_on_timeout)
        watchdog.start()
        try:
            return _run_jar(process, references, candidates)
        except (EOFError, BrokenPipeError, ValueError):
            process.kill()
            process.wait()
            if timed_out.is_set():
                return MetricUnavailable("METEOR", f"the METEOR jar did not finish within {timeout_s:g} s")
            stderr.seek(0)
            lines = [ln.strip() for ln in stderr.read().decode("utf-8", "replace").splitlines() if ln.strip()]
            detail = lines[0] if lines else f"exit status {process.returncode}"
            return MetricUnavailable("METEOR", f"the METEOR jar failed: {detail}")
        finally:
            watchdog.cancel()
            process.kill()
            process.wait()
            # A write the dead jar never read stays buffered; closing then reports a broken pipe.
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()  # type: ignore[union-attr]
            process.stdout.close()  # type: ignore[union-attr]
