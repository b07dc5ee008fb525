import pytest

from workloads.data.decontamination import NgramIndex, ngrams, words

BENCH = [
    "Let $a,$ $b,$ and $c$ be positive real numbers. "
    "Find the minimum value of \\[\\frac{a + b}{c} + \\frac{a + c}{b}.\\]",
    "The sum of two numbers is 25 and their difference is 11. What is the larger of the two numbers?",
]


@pytest.fixture
def index():
    idx = NgramIndex(8, 0.5)
    idx.add("math500", BENCH)
    return idx


@pytest.mark.parametrize(
    "query, expected",
    [
        (BENCH[1], "math500"),
        ("the SUM of two numbers is 25, and their difference is 11!  What is the larger of the two numbers", "math500"),
        ("Let a, b and c be positive real numbers. Find the minimum value of (a+b)/c + (a+c)/b.", "math500"),
        ("The sum of two numbers is 40 and their product is 300. Find the smaller of the two.", None),
        ("What is 2 + 2?", None),
        ("", None),
    ],
)
def test_queries_overlapping_an_eval_item_are_flagged_with_its_benchmark(index, query, expected):
    assert index.match(query) == expected


def test_a_shared_stock_phrase_alone_is_not_contamination():
    idx = NgramIndex(8, 0.5)
    idx.add(
        "aime",
        ["Triangle ABC has area 10. The answer is m/n where m and n are relatively prime positive integers. Find m+n."],
    )
    query = (
        "A bag holds 3 red and 5 blue marbles; two are drawn without replacement and the chance both are red "
        "is m/n where m and n are relatively prime positive integers. Find m+n."
    )
    assert idx.match(query) is None


def test_asymptote_code_and_latex_punctuation_are_ignored():
    assert words("Find $x^2$. [asy]draw((0,0)--(1,1));[/asy] Done") == ["find", "x", "2", "done"]
    assert ngrams("a b c", 8) == {("a", "b", "c")}
    assert len(ngrams("one two three four five six seven eight nine", 8)) == 2
