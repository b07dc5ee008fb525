"""HaluEval's hallucination judgment as Yes/No questions (QA, dialogue, summarization, general)."""

from __future__ import annotations

import re
from functools import partial

from workloads.core.prompts import (
    halueval_dialogue_prompt,
    halueval_general_prompt,
    halueval_qa_prompt,
    halueval_summarization_prompt,
)
from workloads.evaluation.items import DEFAULT_LAYOUT, BenchmarkDataError, Item, Layout, first_present, stable_id
from workloads.evaluation.scoring import final_tail
from workloads.evaluation.spec import BenchmarkKind


def _paired_items(rec: dict, where: str, kind: str, fields: tuple[str, str], prompt) -> list[Item]:
    """The right text -> "No" and the hallucinated one -> "Yes", next to each other."""
    items = []
    for field, label in zip(fields, ("No", "Yes"), strict=True):
        text = str(first_present(rec, (field,), where))
        items.append(Item(stable_id(f"halueval-{kind}", prompt(text), field), prompt(text), label))
    return items


def yes_no_items(records: list[dict], where: str, seed: int = 0, layout: Layout = DEFAULT_LAYOUT) -> list[Item]:
    """HaluEval as Yes/No judgments of "does this contain hallucinated information?". A QA record
    (``knowledge``, ``question``, ``right_answer``, ``hallucinated_answer``), a dialogue record
    (``knowledge``, ``dialogue_history``, ``right_response``, ``hallucinated_response``) and a
    summarization record (``document``, ``right_summary``, ``hallucinated_summary``) each give two
    items, right -> "No" and hallucinated -> "Yes", next to each other; a general record
    (``user_query``, ``chatgpt_response``, ``hallucination`` yes/no) gives one."""
    items = []
    for rec in records:
        if "right_response" in rec or "hallucinated_response" in rec:
            knowledge = str(first_present(rec, ("knowledge",), where))
            dialogue = str(first_present(rec, ("dialogue_history",), where))
            items += _paired_items(
                rec,
                where,
                "dialogue",
                ("right_response", "hallucinated_response"),
                partial(halueval_dialogue_prompt, knowledge, dialogue),
            )
        elif "right_summary" in rec or "hallucinated_summary" in rec:
            document = str(first_present(rec, ("document",), where))
            items += _paired_items(
                rec,
                where,
                "summarization",
                ("right_summary", "hallucinated_summary"),
                partial(halueval_summarization_prompt, document),
            )
        elif "right_answer" in rec or "hallucinated_answer" in rec:
            knowledge = str(first_present(rec, ("knowledge",), where))
            question = str(first_present(rec, ("question",), where))
            for field, label in (("right_answer", "No"), ("hallucinated_answer", "Yes")):
                answer = str(first_present(rec, (field,), where))
                prompt = halueval_qa_prompt(knowledge, question, answer)
                items.append(Item(stable_id("halueval-qa", question, field, answer), prompt, label))
        elif "chatgpt_response" in rec:
            query = str(first_present(rec, ("user_query",), where))
            response = str(rec["chatgpt_response"])
            flag = str(first_present(rec, ("hallucination",), where)).strip().lower()
            label = {"yes": "Yes", "no": "No"}.get(flag, "")  # anything else: unjudgeable
            prompt = halueval_general_prompt(query, response)
            items.append(Item(stable_id("halueval-general", query, response), prompt, label))
        else:
            raise BenchmarkDataError(
                f"{where}: not a HaluEval record (QA: right_answer/hallucinated_answer; dialogue: "
                f"right_response/hallucinated_response; summarization: right_summary/hallucinated_summary; "
                f"general: chatgpt_response); fields: {sorted(rec)}"
            )
    return items


# A standalone word: not part of a longer word ("Nothing", "Yesterday", "non-factual"), nor of a
# hyphenated or contracted one ("no-brainer").
_YES_NO = re.compile(r"(?<![\w'-])(yes|no)(?![\w'-])", re.IGNORECASE)


def yes_no_answer(final: str) -> str | None:
    """The last standalone "Yes" or "No" of the final text, as "Yes"/"No"; None when there is none."""
    found = _YES_NO.findall(final)
    return found[-1].capitalize() if found else None


def yes_no_verdict(final: str, reference: str) -> tuple[bool | None, str | None]:
    if reference not in ("Yes", "No"):
        return None, f"reference is not Yes or No: {reference!r}"
    answer = yes_no_answer(final_tail(final))
    if answer is None:
        return False, "no yes/no"
    return answer == reference, None


KIND = BenchmarkKind("yes-no", load=yes_no_items, verdict=yes_no_verdict)
