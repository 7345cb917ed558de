"""The task table: the 46 task types of the ReAlign taxonomy, in one place.

Everything that depends on a task (is it rewritten, does it need evidence, which criteria file,
which group in reports) is looked up here, never decided by if/elif chains on names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DEFAULT_TASK", "GROUPS", "TASKS", "Task"]

DEFAULT_TASK = "default"


@dataclass(frozen=True)
class Task:
    """One task type: its name, group, a one-line description and how the pipeline treats it."""

    name: str
    group: str
    description: str
    rewrite: bool = True
    retrieval: bool = False


def _t(name: str, group: str, description: str, *, rewrite: bool = True, retrieval: bool = False) -> Task:
    return Task(name, group, description, rewrite, retrieval)


_ALL = (
    # Generation
    _t("question_generation", "generation", "Write questions (quiz, interview, survey) about a topic or text."),
    _t("story_generation", "generation", "Write a story or other narrative fiction.", rewrite=False),
    _t("poem_generation", "generation", "Write a poem, song lyrics or other verse.", rewrite=False),
    _t("email_generation", "generation", "Write an email or letter for a given purpose."),
    _t("data_generation", "generation", "Produce synthetic data, lists of examples or structured records."),
    _t("text_to_text_translation", "generation", "Translate text from one human language into another."),
    # Brainstorming
    _t("advice_giving", "brainstorming", "Give personal advice or opinions on a situation.", rewrite=False),
    _t(
        "recommendations",
        "brainstorming",
        "Suggest options (books, tools, places, products) that fit a need.",
        retrieval=True,
    ),
    _t("how_to_generation", "brainstorming", "Explain step by step how to do something.", retrieval=True),
    _t("planning", "brainstorming", "Draw up a plan, schedule, itinerary or outline to reach a goal."),
    # Code
    _t("code_correction", "code", "Find and fix the bugs in a piece of code."),
    _t(
        "code_simplification",
        "code",
        "Make code shorter, cleaner or faster without changing what it does.",
        rewrite=False,
    ),
    _t("explain_code", "code", "Explain what a piece of code does and how it works."),
    _t("text_to_code_translation", "code", "Write code that does what a natural-language request describes."),
    _t("code_to_code_translation", "code", "Port code from one programming language to another."),
    _t("language_learning_questions", "code", "Answer a question about a programming language or its features."),
    _t("code_language_classification", "code", "Say which programming language a snippet is written in."),
    _t("code_to_text_translation", "code", "Describe or document code in prose (docstrings, comments, docs)."),
    # Rewriting
    _t("instructional_rewriting", "rewriting", "Rewrite a text following an instruction (tone, length, audience)."),
    _t("language_polishing", "rewriting", "Improve the wording, flow and style of a text."),
    _t("paraphrasing", "rewriting", "Say the same thing in different words.", rewrite=False),
    _t("text_correction", "rewriting", "Fix the spelling, grammar and punctuation of a text."),
    # Extraction
    _t("information_extraction", "extraction", "Pull specific facts or fields out of a given text."),
    _t("keywords_extraction", "extraction", "List the keywords or key phrases of a text."),
    _t("table_extraction", "extraction", "Turn information in a text into a table.", rewrite=False),
    # Summarization
    _t("title_generation", "summarization", "Propose a title or headline for a text.", rewrite=False),
    _t("text_summarization", "summarization", "Condense a text into a shorter summary.", rewrite=False),
    _t("note_summarization", "summarization", "Turn notes or a transcript into a concise summary.", rewrite=False),
    # Conversation
    _t("open_qa", "conversation", "Answer a factual or general question without a given passage.", retrieval=True),
    _t("closed_qa", "conversation", "Answer a question using only a passage supplied with it."),
    _t("fact_verification", "conversation", "Judge whether a claim is true, false or unsupported.", retrieval=True),
    _t("value_judgement", "conversation", "Weigh a moral, ethical or value-laden question."),
    _t("roleplay", "conversation", "Play a character or persona in a conversation.", rewrite=False),
    _t("explain_answer", "conversation", "Explain why an answer or fact is so.", retrieval=True),
    # Specialized educational dialog
    _t(
        "natural_language_learning_tutor",
        "education",
        "Teach a human language: grammar, vocabulary, usage, pronunciation.",
    ),
    _t(
        "exam_problem_solving_tutor",
        "education",
        "Solve an exam or homework problem (science, history, ...) and teach the method.",
    ),
    _t("ml_ai_language_model_tutor", "education", "Teach machine learning, AI or language-model concepts."),
    _t("math_puzzles", "education", "Solve a math word problem, calculation or puzzle."),
    _t("fill_in_the_blank", "education", "Complete the missing word or words of a sentence or passage."),
    # Classification
    _t("general_classification", "classification", "Put an item into one of several given categories."),
    _t("ordering", "classification", "Sort or rank items by some criterion."),
    _t("sentiment_analysis", "classification", "Say whether a text is positive, negative or neutral."),
    _t("language_classification", "classification", "Say which human language a text is written in."),
    _t("topic_classification", "classification", "Say what subject or topic a text is about."),
    # Others
    _t("default", "others", "Anything that fits none of the other tasks.", rewrite=False),
    _t("rejecting", "others", "A request that should be declined (harmful, impossible or unethical)."),
)

#: name -> Task, in the taxonomy's order
TASKS: Mapping[str, Task] = {t.name: t for t in _ALL}

#: group names, in display order
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(t.group for t in _ALL))
