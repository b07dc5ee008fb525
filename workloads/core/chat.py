"""The chat format the study trains and evaluates with.

ChatML (the format SmolLM2 and Qwen use) with ``{% generation %}`` markers around assistant
turns, so TRL can compute the loss on the assistant turn only; the thinking block is part of the
assistant content and therefore of the training target.
"""

STUDY_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{% generation %}{{- message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def ensure_chat_template(tokenizer) -> bool:
    """Install the study template when the tokenizer has none or one without generation markers.
    Returns whether it changed anything."""
    current = tokenizer.chat_template or ""
    if "{% generation %}" in current:
        return False
    tokenizer.chat_template = STUDY_CHAT_TEMPLATE
    return True
