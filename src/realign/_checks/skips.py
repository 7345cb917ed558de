"""The tasks the fact checks skip, in one place: the entity check skips every task the number check
skips, and more. A module of its own because ``facts`` imports ``entities``."""

from __future__ import annotations

__all__ = ["ENTITY_SKIP_TASKS", "NUMBER_SKIP_TASKS"]

#: tasks whose answers may drop numbers on purpose (a summary, a title, a new story)
NUMBER_SKIP_TASKS = frozenset(
    {
        "text_summarization",
        "note_summarization",
        "title_generation",
        "story_generation",
        "poem_generation",
        "roleplay",
    }
)

#: tasks whose answers may leave names out on purpose, or whose names are not facts
ENTITY_SKIP_TASKS = NUMBER_SKIP_TASKS | frozenset(
    {
        "question_generation",
        "data_generation",
        "keywords_extraction",
        "text_to_text_translation",
        "code_to_code_translation",
        "text_to_code_translation",
        "code_correction",
        "explain_code",
        "code_to_text_translation",
        "code_language_classification",
        "instructional_rewriting",
        "language_polishing",
        "paraphrasing",
        "text_correction",
        "email_generation",
        "rejecting",
        "math_puzzles",  # its names are the problem's characters; the numbers and the answer carry it
    }
)
