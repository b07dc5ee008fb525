"""Decontamination: drop training queries that overlap an evaluation item.

Text is lower-cased and reduced to alphanumeric words, so LaTeX spacing and punctuation don't hide
an overlap; Asymptote diagram code is left out. A query is contaminated when at least
``min_overlap`` of its word n-grams appear in one single evaluation item: a shared stock phrase
("where m and n are relatively prime positive integers") is not an overlap, a near-copy is.
A text shorter than n words is one n-gram of itself.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

_WORD = re.compile(r"[a-z0-9]+")
# Asymptote diagram code is boilerplate shared by unrelated problems (axes, grids, pens).
_ASY = re.compile(r"\[asy\].*?\[/asy\]", re.DOTALL)


def words(text: str) -> list[str]:
    return _WORD.findall(_ASY.sub(" ", text).lower())


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    tokens = words(text)
    if len(tokens) < n:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


class NgramIndex:
    """Which evaluation items contain each n-gram."""

    def __init__(self, n: int, min_overlap: float):
        self.n, self.min_overlap = n, min_overlap
        self.items: dict[tuple[str, ...], set[int]] = defaultdict(set)
        self.names: list[str] = []

    def add(self, benchmark: str, texts: list[str]) -> None:
        for text in texts:
            item = len(self.names)
            self.names.append(benchmark)
            for gram in ngrams(text, self.n):
                self.items[gram].add(item)

    def match(self, text: str) -> str | None:
        """The benchmark of the item ``text`` overlaps most, if the overlap reaches the threshold."""
        grams = ngrams(text, self.n)
        if not grams:
            return None
        shared = Counter(item for gram in grams for item in self.items.get(gram, ()))
        if not shared:
            return None
        item, count = shared.most_common(1)[0]
        return self.names[item] if count / len(grams) >= self.min_overlap else None
