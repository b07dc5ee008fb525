"""What scoring shares across kinds: the length bound every verdict reads its text within, the
scorer built from a verdict, and the hard time limit per scored sample."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from workloads.verification.verify_pool import CRASHED, TIMEOUT

# The length bound of every scorer: a longer final text is cut to its last whole lines within
# MAX_SCORED_CHARS characters (an answer sits at the end) before any parser sees it. A real final
# answer is far shorter; a runaway generation can be megabytes, and math-verify's parser is
# superlinear in its input. Whole lines, so a cut never lands inside an expression and leaves a
# fragment of it that reads as an answer.
MAX_SCORED_CHARS = 20_000


def final_tail(text: str) -> str:
    if len(text) <= MAX_SCORED_CHARS:
        return text
    tail = text[-MAX_SCORED_CHARS:]
    line = tail.find("\n")
    return tail[line + 1 :] if line >= 0 else ""


Verdict = Callable[[str, object], tuple[bool | None, str | None]]


def as_scorer(verdict: Verdict) -> Callable[[Sequence[str], Sequence[object]], list[float | None]]:
    def scorer(completions: Sequence[str], references: Sequence[object]) -> list[float | None]:
        scores = []
        for completion, reference in zip(completions, references, strict=True):
            correct, _ = verdict(completion, reference)
            scores.append(None if correct is None else float(correct))
        return scores

    scorer.__name__ = verdict.__name__.replace("verdict", "score")
    return scorer


# The evaluation workload's hard wall-clock limit per scored sample (a stalled parse costs one
# sample, not the cell). A kind whose verdict bounds itself (code run in a sandbox with its own time
# limits; ``BenchmarkKind.self_bounded``) is scored in-process instead.
SCORING_LIMIT_S = 30.0


def bounded_scores(
    kind: str, completions: Sequence[str], references: Sequence[object], *, pool
) -> tuple[list[float | None], int]:
    """A kind's scores with a hard time limit per item: each verdict runs in ``pool`` (a
    ``workloads.verification.verify_pool.VerifierPool``, whose worker processes are killed past
    their limit, whatever thread the caller is on). A timed-out or crashed item is unscored (None). Returns the
    scores and the number of items that ran out of time or crashed."""
    verdicts = pool.verdicts([kind] * len(completions), list(completions), list(references))
    scores = [None if correct is None else float(correct) for correct, _ in verdicts]
    return scores, sum(error in (TIMEOUT, CRASHED) for _, error in verdicts)
