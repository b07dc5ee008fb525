"""Verification throughput: math-verify called in-process, one item after another, against
VerifierPool with one worker and with every usable core, in the same run; then adversarial inputs
through the pool, counting timeouts and hangs.

Scaling is only as good as the cores are free: beside the pool, the same pairs are split among as
many plain processes verifying in-process at once (no pool), which is what the machine offers
during the run; and the pool's own cost per item is measured with verdicts that do almost nothing.

A benchmark, not a test: it prints measurements and asserts nothing. Run from the project root:

    .venv/bin/python benchmarks/verify_throughput.py --items 3000 --timeout 10

The realistic pairs are built from the local MATH-500 copy ($STUDY_DATA_DIR/math/math500.jsonl,
else the project's default data folder): the gold is the dataset's answer, the response one of
- the reference solution itself (long reasoning ending in \\boxed{answer}: correct),
- a short sentence with \\boxed{answer} (correct),
- an equivalent form of the answer (42 -> 42.0, \\frac{a}{b} -> a/b, \\dfrac -> \\frac, or unboxed),
- another problem's answer, boxed (wrong),
- the first part of the solution with no answer in it (what a truncated generation looks like).
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import random
import re
import sys
import time
from pathlib import Path

from workloads.evaluation.registry import VERDICTS
from workloads.verification.verify_pool import TIMEOUT, VerifierPool, usable_cores

# math-verify logs every input it times out on, whole: for a 5000-deep fraction that is pages of
# LaTeX. Pool workers import this script as their __main__, so this line quiets them as well.
logging.getLogger("math_verify").setLevel(logging.CRITICAL)

HANG_MARGIN_S = 2.0  # an item that took longer than the limit plus this is a hang


def math500_path() -> Path:
    from recipe_schema.recipe import DATA_DIR_ENV, DEFAULT_DATA_DIR

    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR) / "math" / "math500.jsonl"


def equivalent_form(answer: str) -> str:
    if re.fullmatch(r"-?\d+", answer):
        return f"The answer is $\\boxed{{{answer}.0}}$."
    fraction = re.fullmatch(r"(-?)\\d?frac\{(\d+)\}\{(\d+)\}", answer)
    if fraction:
        sign, numerator, denominator = fraction.groups()
        return f"So we get $\\boxed{{{sign}{numerator}/{denominator}}}$."
    if "\\dfrac" in answer:
        return f"Hence $\\boxed{{{answer.replace(chr(92) + 'dfrac', chr(92) + 'frac')}}}$."
    return f"Putting it together, the result is ${answer}$."


def realistic_pairs(rows: list[dict], n: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """``n`` (shape, response, gold) triples, shapes drawn with fixed weights."""
    shapes = ["solution", "boxed", "equivalent", "wrong", "no answer"]
    pairs = []
    for _ in range(n):
        row = rng.choice(rows)
        answer, solution = row["answer"], row["solution"]
        shape = rng.choices(shapes, weights=[30, 20, 15, 25, 10])[0]
        if shape == "solution":
            response = solution
        elif shape == "boxed":
            response = f"Therefore, the final answer is $\\boxed{{{answer}}}$."
        elif shape == "equivalent":
            response = equivalent_form(answer)
        elif shape == "wrong":
            response = f"I conclude that the answer is $\\boxed{{{rng.choice(rows)['answer']}}}$."
        else:
            cut = solution.find("\\boxed")
            response = solution[: (cut if cut > 0 else len(solution)) * 3 // 5]
        pairs.append((shape, response, answer))
    return pairs


def adversarial_pairs() -> list[tuple[str, str, str]]:
    """(name, response, gold): inputs that make parsers or sympy work very hard or forever."""
    deep = 5000
    return [
        ("power tower 9^9^9^9", "\\boxed{9^{9^{9^{9}}}}", "1"),
        ("nested fraction, 5000 deep", "\\boxed{" + "\\frac{1}{1+" * deep + "1" + "}" * deep + "}", "1"),
        ("nested fraction as the gold", "\\boxed{1}", "\\frac{1}{1+" * deep + "1" + "}" * deep),
        ("10^(10^10)", "\\boxed{10^{10^{10}}}", "1"),
        ("(10^10)!", "\\boxed{(10^{10})!}", "1"),
        ("100000-digit number", "\\boxed{" + "7" * 100_000 + "}", "1"),
        ("2000 nested square roots", "\\boxed{" + "\\sqrt{" * 2000 + "2" + "}" * 2000 + "}", "1"),
        ("(x+1)^1000 - (x-1)^1000 vs 0", "\\boxed{(x+1)^{1000} - (x-1)^{1000}}", "0"),
        ("1000 boxed answers", " ".join(f"\\boxed{{{i}}}" for i in range(1000)), "999"),
        ("2000 unclosed \\boxed{", "\\boxed{" * 2000, "1"),
        ("200 kB of reasoning", "Let x = 1, then x + 1 = 2. " * 8000 + "\\boxed{2}", "2"),
    ]


def run_sequential(responses: list[str], golds: list[str]) -> tuple[list, float, list[float]]:
    verdict = VERDICTS["math"]
    results, seconds = [], []
    began = time.perf_counter()
    for response, gold in zip(responses, golds, strict=True):
        item_began = time.perf_counter()
        results.append(verdict(response, gold))
        seconds.append(time.perf_counter() - item_began)
    return results, time.perf_counter() - began, seconds


def run_pool(workers: int, timeout_s: float, responses: list[str], golds: list[str]) -> tuple[list, float, list[float]]:
    with VerifierPool(workers=workers, timeout_s=timeout_s) as pool:
        # Warm-up batch: workers started and their math-verify grammar built, so the timed batch
        # measures throughput, not process start (which a shard pays once).
        warm = 4 * workers
        pool.verdicts(["math"] * warm, ["\\boxed{1}"] * warm, ["1"] * warm)
        began = time.perf_counter()
        results = pool.verdicts(["math"] * len(responses), responses, golds)
        return results, time.perf_counter() - began, pool.item_seconds


def _verify_share(responses: list[str], golds: list[str], barrier, out) -> None:
    VERDICTS["math"]("$1$", "1")
    barrier.wait()  # all shares start together, after their imports
    began = time.perf_counter()
    for response, gold in zip(responses, golds, strict=True):
        VERDICTS["math"](response, gold)
    out.put(time.perf_counter() - began)


def run_independent(workers: int, responses: list[str], golds: list[str]) -> float:
    """Seconds for ``workers`` plain processes, each verifying its share in-process, all at once: the
    scaling this machine's cores give right now (other load included), with no pool involved."""
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(workers), context.Queue()
    shares = [
        context.Process(target=_verify_share, args=(responses[k::workers], golds[k::workers], barrier, out))
        for k in range(workers)
    ]
    for process in shares:
        process.start()
    seconds = max(out.get() for _ in shares)
    for process in shares:
        process.join()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=3000, help="realistic (gold, response) pairs (default 3000)")
    parser.add_argument("--timeout", type=float, default=10.0, help="the pool's limit per item, seconds (default 10)")
    parser.add_argument(
        "--workers", type=int, default=usable_cores(), help="many-worker pool size (default: usable cores)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for drawing the pairs (default 0)")
    args = parser.parse_args()

    path = math500_path()
    if not path.exists():
        sys.exit(f"no MATH-500 copy at {path}: set STUDY_DATA_DIR to the data folder")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    pairs = realistic_pairs(rows, args.items, random.Random(args.seed))
    shapes, responses, golds = (list(column) for column in zip(*pairs, strict=True))
    VERDICTS["math"]("$1$", "1")  # the in-process run gets the same warm start as the workers

    print(
        f"verification throughput: {args.items} realistic (gold, response) pairs from {path.name}, "
        f"shapes {dict(sorted((s, shapes.count(s)) for s in set(shapes)))}"
    )
    # Scaling needs idle cores: the load average says how much else wanted them during the run.
    print(
        f"machine: {usable_cores()} usable cores, load average {os.getloadavg()[0]:.1f} at start; "
        f"pool limit {args.timeout:g} s per item\n"
    )

    runs = {"sequential math-verify (in-process)": run_sequential(responses, golds)}
    runs["pool, 1 worker"] = run_pool(1, args.timeout, responses, golds)
    runs[f"pool, {args.workers} workers"] = run_pool(args.workers, args.timeout, responses, golds)
    rates = {}
    reference = runs["sequential math-verify (in-process)"][0]
    print(f"{'':38} {'seconds':>8} {'items/s':>8} {'slowest item s':>15} {'timeouts':>9} {'agree w/ seq.':>14}")
    for name, (results, seconds, item_seconds) in runs.items():
        rates[name] = len(results) / seconds
        agree = sum(a == b for a, b in zip(results, reference, strict=True))
        timeouts = sum(error == TIMEOUT for _, error in results)
        print(
            f"{name:38} {seconds:8.2f} {rates[name]:8.1f} {max(item_seconds):15.3f} {timeouts:9d} "
            f"{agree:>8}/{len(results)}"
        )
    sequential, one, many = rates.values()
    print(
        f"\nratios: pool(1)/sequential {one / sequential:.2f}"
        f"   pool({args.workers})/sequential {many / sequential:.2f}"
        f"   scaling pool({args.workers})/pool(1) {many / one:.2f} (linear would be {args.workers})"
    )

    ceiling = len(responses) / run_independent(args.workers, responses, golds)
    print(
        f"machine's own scaling: {args.workers} independent in-process runs at once {ceiling:.1f} items/s, "
        f"{ceiling / sequential:.2f} x sequential; the pool reaches {many / ceiling:.0%} of that"
    )

    # The pool's own cost per item (pipe round trip, bookkeeping), seen with a verdict that does
    # next to no work: what the pool adds to each math-verify call, whatever the machine's load.
    trivial = 5000
    with VerifierPool(workers=1, timeout_s=args.timeout) as pool:
        pool.verdicts(["multiple-choice"] * 8, ["\\boxed{A}"] * 8, ["A"] * 8)
        began = time.perf_counter()
        pool.verdicts(["multiple-choice"] * trivial, ["\\boxed{A}"] * trivial, ["A"] * trivial)
        overhead = (time.perf_counter() - began) / trivial
    print(
        f"pool overhead: {overhead * 1e6:.0f} us per item (multiple-choice verdicts through 1 worker), "
        f"{overhead * sequential:.1%} of a sequential math-verify item"
    )

    # Adversarial inputs, shuffled among realistic ones (whose sequential verdicts are known),
    # through the many-worker pool. Not run in-process: there nothing would stop a real hang.
    mixed = [(name, response, gold, None) for name, response, gold in adversarial_pairs()]
    mixed += [("realistic", responses[i], golds[i], reference[i]) for i in range(min(200, len(responses)))]
    random.Random(args.seed).shuffle(mixed)
    names, mixed_responses, mixed_golds, expected = (list(column) for column in zip(*mixed, strict=True))
    results, seconds, item_seconds = run_pool(args.workers, args.timeout, mixed_responses, mixed_golds)
    print(
        f"\nadversarial: {len(mixed) - names.count('realistic')} inputs shuffled among {names.count('realistic')} "
        f"realistic ones, pool({args.workers}), limit {args.timeout:g} s: {seconds:.1f} s in all"
    )
    for name, (correct, error), item_s in zip(names, results, item_seconds, strict=True):
        if name != "realistic":
            print(f"  {name:34} {item_s:7.2f} s  -> {correct!s:5} {error or ''}")
    hangs = sum(item_s > args.timeout + HANG_MARGIN_S for item_s in item_seconds)
    timeouts = sum(error == TIMEOUT for _, error in results)
    agree = all(r == e for name, r, e in zip(names, results, expected, strict=True) if name == "realistic")
    print(
        f"timeouts {timeouts}, hangs {hangs} (items over limit + {HANG_MARGIN_S:g} s); "
        f"realistic items among them agree with sequential: {'yes' if agree else 'NO'}"
    )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
