"""One benchmark kind, whole: how its items are built, how a response is judged, what a cell reports.

Every table the rest of the study reads about kinds (loaders, scorers, per-sample details, metrics
and which way is better, verdict versions, the recipe's allowed kinds) is derived from these specs
in ``workloads.evaluation.registry``; a kind is defined nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from workloads.evaluation.items import Item, Layout
from workloads.evaluation.scoring import Verdict, as_scorer

# (records, where, seed, layout) -> items. ``where`` names the file and row for error messages.
Loader = Callable[[list[dict], str, int, Layout], list[Item]]
Scorer = Callable[[Sequence[str], Sequence[object]], list[float | None]]
Details = Callable[[str, object], dict | None]


@dataclass(frozen=True)
class BenchmarkKind:
    """A benchmark kind.

    - ``load``: builds items from records (one signature for every kind).
    - ``verdict``: ``(final, reference) -> (correct, error)``, ``correct`` None when the reference
      can't be parsed; None for a kind judged by the LLM judge (``needs_judge``).
    - ``scores``: a batch scorer, where scoring a batch is more than one verdict per sample
      (programs run on threads); by default the verdict applied to each sample.
    - ``details``: per-sample results beyond the score, for a kind that reports more than one number.
    - ``metrics``: what a cell reports, the headline first; ``lower_is_better`` among them.
    - ``category_metrics``: metrics also reported per item category where the items carry one.
    - ``verifier`` and ``libraries``: the verdict version's name (the kind's name by default) and
      the libraries whose versions decide verdicts besides the project's own code.
    - ``self_bounded``: the verdict bounds its own time (a sandbox), so it runs in-process.
    - ``version_roots``: further code the kind's version covers (the judge's reply parser).
    """

    name: str
    load: Loader
    verdict: Verdict | None
    details: Details | None = None
    batch_scorer: Scorer | None = None
    metrics: tuple[str, ...] = ("pass@1",)
    lower_is_better: frozenset[str] = frozenset()
    category_metrics: tuple[str, ...] = ()
    verifier: str | None = None
    libraries: tuple[str, ...] = ()
    self_bounded: bool = False
    needs_judge: bool = False
    version_roots: tuple = field(default=())

    def __post_init__(self):
        if (self.verdict is None) != self.needs_judge:
            raise ValueError(f"kind {self.name!r}: a kind has a verdict or needs the judge, exactly one")
        unknown = self.lower_is_better - set(self.metrics)
        if unknown:
            raise ValueError(f"kind {self.name!r}: lower_is_better names metrics it does not report: {sorted(unknown)}")

    @property
    def scorer(self) -> Scorer | None:
        if self.batch_scorer is not None:
            return self.batch_scorer
        return as_scorer(self.verdict) if self.verdict is not None else None
