"""METEOR 1.5 and the PTB tokenizer, run through Java with the jars that pycocoevalcap ships."""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["MeteorScorer", "java_unavailable_reason", "meteor_unavailable_reason", "ptb_tokenize"]


def java_unavailable_reason() -> str | None:
    """`None` when a `java` executable is on PATH, else a sentence saying what is missing."""
    if shutil.which("java") is None:
        return "no `java` executable on PATH: install a Java runtime (e.g. `apt-get install default-jre-headless`)"
    return None


def _pycocoevalcap_dir() -> Path | None:
    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def meteor_unavailable_reason() -> str | None:
    """`None` when METEOR can run (Java and pycocoevalcap's `meteor-1.5.jar` present), else why not."""
    reason = java_unavailable_reason()
    if reason:
        return f"METEOR needs Java: {reason}"
    root = _pycocoevalcap_dir()
    if root is None or not (root / "meteor" / "meteor-1.5.jar").is_file():
        return "METEOR needs meteor-1.5.jar from pycocoevalcap: `pip install pycocoevalcap`"
    return None


class MeteorScorer:
    """One long-lived METEOR 1.5 process (`-stdio -l en -norm`, as pycocoevalcap) fed in a pipeline.

    pycocoevalcap waits for each example's statistics line before sending the next; here a writer thread
    streams all requests while the caller reads, so the per-example round trips overlap. Scores are equal.
    """

    _shared: MeteorScorer | None = None
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        reason = meteor_unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        meteor_dir = _pycocoevalcap_dir() / "meteor"
        cmd = ["java", "-jar", "-Xmx2G", "meteor-1.5.jar", "-", "-", "-stdio", "-l", "en", "-norm"]
        self._proc = subprocess.Popen(
            cmd, cwd=meteor_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self._lock = threading.Lock()

    @classmethod
    def shared(cls) -> MeteorScorer:
        """The process-wide scorer (started on first use, so the JVM start-up is paid once)."""
        with cls._shared_lock:
            if cls._shared is None or cls._shared._proc.poll() is not None:
                cls._shared = cls()
                atexit.register(cls._shared.close)
            return cls._shared

    def _write_lines(self, lines: Sequence[str], errors: list) -> None:
        try:
            for start in range(0, len(lines), 256):
                self._proc.stdin.write("".join(lines[start : start + 256]).encode("utf-8"))
            self._proc.stdin.flush()
        except BaseException as exc:  # surfaced by the reader
            errors.append(exc)

    def _readline(self) -> str:
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(
                "the METEOR Java process ended unexpectedly (is there enough memory for -Xmx2G?)"
            )
        return line.decode("utf-8").strip()

    def score(
        self, predictions: Sequence[str], references: Sequence[Sequence[str]]
    ) -> tuple[float, list[float]]:
        """Corpus METEOR and per-example METEOR.

        Args:
            predictions: hypotheses, one per example.
            references: one list of reference strings per example.

        Returns:
            `(corpus_score, per_example_scores)`.
        """

        def one_line(text: str) -> str:
            return " ".join(text.split("\n"))

        requests = []
        for pred, refs in zip(predictions, references):
            hyp = one_line(pred).replace("|||", "").replace("  ", " ")
            requests.append(" ||| ".join(("SCORE", " ||| ".join(one_line(r) for r in refs), hyp)) + "\n")
        with self._lock:
            errors: list = []
            writer = threading.Thread(target=self._write_lines, args=(requests, errors), daemon=True)
            writer.start()
            stats = [self._readline() for _ in requests]
            writer.join()
            if errors:
                raise RuntimeError(f"could not send data to the METEOR process: {errors[0]}")
            self._proc.stdin.write(("EVAL ||| " + " ||| ".join(stats) + "\n").encode("utf-8"))
            self._proc.stdin.flush()
            per_example = [float(self._readline()) for _ in requests]
            corpus = float(self._readline())
        return corpus, per_example

    def close(self) -> None:
        """Stops the Java process."""
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
            self._proc.kill()
            self._proc.wait()


def ptb_tokenize(texts: Sequence[str]) -> list[str]:
    """The COCO-caption convention: Stanford PTB tokenizer, lower-cased, punctuation tokens removed.

    Runs pycocoevalcap's `PTBTokenizer` (Java) once over all texts.

    Raises:
        RuntimeError: when Java or pycocoevalcap is missing.
    """
    reason = java_unavailable_reason()
    if reason:
        raise RuntimeError(
            f'tokenizer="ptb" needs Java: {reason}; or use tokenizer="none" (the R2Gen convention)'
        )
    try:
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    except ImportError as exc:
        raise RuntimeError('tokenizer="ptb" needs pycocoevalcap: `pip install pycocoevalcap`') from exc
    # the PTB tokenizer keeps one line per caption; a newline inside a report would shift every later line
    captions = {i: [{"caption": " ".join(t.splitlines())}] for i, t in enumerate(texts)}
    logger.debug("PTB-tokenizing %d texts (cwd %s)", len(texts), os.getcwd())
    tokenized = PTBTokenizer().tokenize(captions)
    return [tokenized[i][0] for i in range(len(texts))]
