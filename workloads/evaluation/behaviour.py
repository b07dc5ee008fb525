"""How a response reasons, not only whether it is right: per-response measures of backtracking,
self-verification and exploring alternatives (counted by a versioned lexicon of phrases), of
repetition and looping, and of the thinking/answer length split.

A lexicon is a proxy: it counts the words a model uses for these moves, not the moves themselves
("wait" can open a real correction or a verbal tic; a correction made without any listed phrase is
missed). Read the rates as trends across checkpoints and runs of one model family, not as absolute
counts of reasoning steps. Any change to the lexicon must bump :data:`LEXICON_VERSION`.
"""

from __future__ import annotations

import re

from workloads.core.text import split_reasoning

LEXICON_VERSION = "behaviour-lexicon-2"

# Matched case-insensitively on word boundaries.
LEXICON: dict[str, tuple[str, ...]] = {
    "backtracking": (
        r"wait",
        r"hmm+,? (?:no|that)",
        r"that(?:'s| is) (?:wrong|not right|incorrect|not correct)",
        r"(?:i|we) made (?:a|an) (?:mistake|error)",
        r"let me re-?(?:check|consider|think|examine|evaluate|do|calculate|compute)",
        r"let(?: me|'s) (?:start over|try again|go back|backtrack)",
        r"scratch that",
        r"on second thought",
        r"(?:that|this) (?:does not|doesn't) work",
        r"dead end",
        r"backtrack(?:ing)?",
    ),
    "verification": (
        r"let(?: me|'s) (?:double[- ]?)?(?:check|verify|confirm)",
        r"double[- ]check",
        r"(?:plug|plugging|substitut(?:e|ing)) (?:it |this |that |these |them )?back",
        r"sanity check",
        r"to verify",
        r"check(?:ing)?:",
    ),
    "exploration": (
        r"alternatively",
        r"another (?:way|approach|method|option|idea)",
        r"a different (?:approach|way|method|strategy)",
        r"what if",
        r"(?:or|perhaps|maybe) (?:we|i) (?:could|can|should) (?:try|use|consider)",
        r"let(?: me|'s) (?:try|consider) (?:a different|another|instead)",
    ),
}
_PATTERNS = {name: re.compile(r"\b(?:" + "|".join(p) + r")\b", re.IGNORECASE) for name, p in LEXICON.items()}
# A move is a sentence holding a phrase ("Let me verify by plugging it back" is one check, not two).
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")

# Repetition: the share of word n-grams of the thinking already seen earlier in it.
NGRAM = 8
# A truncated response "loops" when its last LOOP_TAIL_WORDS words are at least this repetitive.
LOOP_TAIL_WORDS = 200
LOOP_SHARE = 0.5

MEASURES = (
    "backtracking_per_1k",
    "verification_per_1k",
    "exploration_per_1k",
    "repeated_ngram_share",
    "looping",
    "thinking_share",
)


def repeated_ngram_share(words: list[str], n: int = NGRAM) -> float:
    """Share of the n-grams that repeat an earlier one (0 for texts shorter than n words)."""
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    seen: set[tuple[str, ...]] = set()
    repeats = 0
    for gram in grams:
        repeats += gram in seen
        seen.add(gram)
    return repeats / len(grams)


def behaviour(response: str, truncated: bool) -> dict[str, float]:
    """The measures of one response. Rates are moves (sentences holding a lexicon phrase) per
    1,000 words of the thinking (of the whole response when it has no thinking block);
    ``looping`` is 1.0 for a response cut off by the token limit while repeating itself;
    ``thinking_share`` is the thinking's share of all words."""
    split = split_reasoning(response)
    thinking = split.reasoning or split.final
    words = thinking.lower().split()
    per_1k = 1000 / len(words) if words else 0.0
    sentences = _SENTENCE.split(thinking)
    measures = {
        f"{name}_per_1k": sum(bool(pattern.search(s)) for s in sentences) * per_1k
        for name, pattern in _PATTERNS.items()
    }
    all_words = response.lower().split()
    tail_share = repeated_ngram_share(all_words[-LOOP_TAIL_WORDS:])
    thinking_words, answer_words = len(split.reasoning.split()), len(split.final.split())
    return {
        **measures,
        "repeated_ngram_share": repeated_ngram_share(words),
        "looping": float(truncated and tail_share >= LOOP_SHARE),
        "thinking_share": thinking_words / (thinking_words + answer_words) if thinking_words + answer_words else 0.0,
    }
