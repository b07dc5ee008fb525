"""Prompts the teacher and the evaluation use."""

MATH_SYSTEM = (
    "You are a careful math tutor. First think step by step between <think> and </think>. "
    "After </think>, write the final answer as \\boxed{answer}."
)

# Two worked examples showing the response format. Small teachers copy a format from examples far
# more reliably than from an instruction alone; large thinking models don't need them.
MATH_FEW_SHOT = [
    (
        "Tom has 3 apples and buys 5 more. How many apples does he have?",
        "<think>\nTom starts with 3 apples. He buys 5 more. 3 + 5 = 8.\n</think>\nTom has \\boxed{8} apples.",
    ),
    (
        "A box holds 12 pencils. How many pencils are in 4 boxes?",
        "<think>\nEach box holds 12 pencils. There are 4 boxes. 12 * 4 = 48.\n</think>\nThere are \\boxed{48} pencils.",
    ),
]

EVAL_MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
EVAL_CHOICE_INSTRUCTION = "Answer with the letter of the correct option within \\boxed{}."


def teacher_messages(problem: str, *, source_loader: str, few_shot: bool) -> list[dict]:
    if source_loader != "math":
        return [{"role": "user", "content": problem}]
    messages = [{"role": "system", "content": MATH_SYSTEM}]
    if few_shot:
        for question, answer in MATH_FEW_SHOT:
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return messages + [{"role": "user", "content": problem}]
