"""Answer preservation: names (the entities check), evidence-backed corrections, incidental numbers,
restated final answers and short answers switched to English."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import realign
from realign import (
    CHECK_NAMES,
    CheckInput,
    EntitiesKept,
    Evidence,
    FakeLLM,
    FinalAnswer,
    LanguageConsistency,
    NumbersKept,
    OptionKept,
    Pipeline,
    TaskPrediction,
    VerdictKept,
    build_checks,
)

QUESTION = "Who plays Agent O in Men in Black: International?"
ORIGINAL = (
    "Agent O is played by Emma Thompson in Men in Black: International (2019). She first played the head of MIB in "
    "Men in Black 3, where the younger version of the character was played by Alice Eve."
)


def item(
    original: str, rewrite: str, question: str = "Q?", task: str = "open_qa", evidence: tuple[Evidence, ...] = ()
) -> CheckInput:
    return CheckInput(task, question, original, rewrite, "stop", evidence)


def refused(answer: object) -> bool:
    """Whether a check's answer (True, False, or (False, why)) refuses the rewrite."""
    return answer is False or (isinstance(answer, tuple) and answer[0] is False)


def explanation(answer: object) -> str:
    assert isinstance(answer, tuple)
    return str(answer[1])


# --- the entities check ------------------------------------------------------------------------------


def test_entities_is_a_builtin_check() -> None:
    assert "entities" in CHECK_NAMES


def test_a_faithful_reordering_keeps_every_name() -> None:
    rewrite = (
        "In *Men in Black: International* (2019), **Emma Thompson** plays Agent O, the head of MIB. She first took "
        "the role in *Men in Black 3*, where Alice Eve played the younger Agent O."
    )
    assert not refused(EntitiesKept()(item(ORIGINAL, rewrite, QUESTION)))


def test_a_swapped_actor_is_refused() -> None:
    rewrite = ORIGINAL.replace("Emma Thompson", "Meryl Streep")
    assert refused(EntitiesKept()(item(ORIGINAL, rewrite, QUESTION)))


def test_the_refusal_names_the_swap() -> None:
    rewrite = ORIGINAL.replace("Emma Thompson", "Meryl Streep")
    assert explanation(EntitiesKept()(item(ORIGINAL, rewrite, QUESTION))) == "swapped: Emma Thompson -> Meryl Streep"


def test_a_swap_to_another_name_of_the_original_is_refused() -> None:
    rewrite = "**Alice Eve** plays Agent O in *Men in Black: International* (2019), first seen in *Men in Black 3*."
    assert "Emma Thompson" in explanation(EntitiesKept()(item(ORIGINAL, rewrite, QUESTION)))


@pytest.mark.parametrize(
    ("original", "rewrite"),
    [
        ("The Mona Lisa hangs in the Louvre Museum in Paris.", "It hangs in the Louvre, Paris."),
        ("The capital of Colombia is Bogotá.", "Colombia's capital is **Bogota**."),
        ("It was written by Gabriel García Márquez.", "Its author is García Márquez."),
        (
            "It flew on NASA's Apollo 11 mission.",
            "It flew on Apollo 11, run by the National Aeronautics and Space Administration.",
        ),
        ("The UK has four nations.", "The United Kingdom has four nations."),
        (
            "NATO stands for the North Atlantic Treaty Organization.",
            "It stands for North Atlantic Treaty Organization (NATO).",
        ),
        ("Germany surrendered in May 1945.", "The German surrender came in May 1945."),
    ],
)
def test_common_variants_of_a_name_are_the_same_name(original: str, rewrite: str) -> None:
    assert not refused(EntitiesKept()(item(original, rewrite, "Where is the Mona Lisa?")))


def test_a_name_the_question_states_may_be_left_out() -> None:
    original = "21 Guns was recorded by Green Day for the album 21st Century Breakdown."
    rewrite = "It was recorded by **Green Day** for *21st Century Breakdown*."
    assert not refused(EntitiesKept()(item(original, rewrite, "Which band recorded the song 21 Guns?")))


def test_a_name_the_question_offers_as_an_alternative_must_stay() -> None:
    original = "Washington came first: he was president before Lincoln was born."
    rewrite = "He came first: he was president before Lincoln was born."
    assert refused(EntitiesKept()(item(original, rewrite, "Who was president first, Washington or Lincoln?")))


def test_a_surname_given_to_someone_else_is_a_swap() -> None:
    original = "The song was first recorded by Tina Turner."
    assert refused(EntitiesKept()(item(original, "The song was first recorded by Ike Turner.", "Who sang it?")))


def test_a_new_bold_answer_is_refused_even_when_the_old_name_survives() -> None:
    original = "It was sung by Canadian singer Bryan Adams; Adams wrote it with Jim Vallance."
    rewrite = "**Bon Jovi**, on *Reckless*; Adams wrote it with Jim Vallance."
    assert refused(EntitiesKept()(item(original, rewrite, "Who sang Summer of '69?")))


def test_the_bold_answer_must_be_the_original_answer() -> None:
    original = "Jupiter is the largest planet. It is a gas giant, followed in size by Saturn."
    rewrite = "The largest planet is **Saturn**, a gas giant; Jupiter is the next largest."
    assert explanation(EntitiesKept()(item(original, rewrite, "Which planet is largest?"))).startswith("answer changed")


def test_a_reordered_numbered_list_of_names_is_refused() -> None:
    original = "The largest states by area are:\n1. Alaska\n2. Texas\n3. California"
    rewrite = "By area:\n\n1. Texas\n2. Alaska\n3. California"
    assert refused(EntitiesKept()(item(original, rewrite, "Which states are largest?")))


def test_sentence_openers_and_instructions_are_not_names() -> None:
    original = "Try the soup first. Consider adding salt. Traditional recipes use 3 onions."
    rewrite = "- Taste the soup first.\n- Add salt if needed.\n- Classic recipes use 3 onions."
    assert not refused(EntitiesKept()(item(original, rewrite, "How do I make onion soup?", task="how_to_generation")))


@pytest.mark.parametrize(
    ("original", "rewrite"),
    [
        ("Stolicą Polski jest Warszawa.", "Stolicą Polski jest **Warszawa**, największe miasto kraju."),
        ("Lo pintó Pablo Picasso en 1937.", "El *Guernica* fue pintado por **Pablo Picasso** en 1937."),
        ("Johann Wolfgang von Goethe schrieb den Faust.", "Der *Faust* stammt von **Johann Wolfgang von Goethe**."),
        ("Türkiye'nin başkenti Ankara'dır.", "Türkiye'nin başkenti **Ankara**'dır."),
        ("日本の首都は東京です。", "日本の首都は**東京**です。"),
        (
            "Die Hauptstadt ist Berlin und der Fluss heißt Spree.",
            "Berlin ist die Hauptstadt; durch sie fließt die Spree.",
        ),
    ],
)
def test_faithful_rewrites_in_other_languages_pass(original: str, rewrite: str) -> None:
    assert not refused(EntitiesKept()(item(original, rewrite, "?")))


def test_a_swap_in_spanish_is_refused() -> None:
    original = "Lo pintó Pablo Picasso en 1937."
    assert refused(EntitiesKept()(item(original, "Lo pintó **Salvador Dalí** en 1937.", "¿Quién pintó el Guernica?")))


def test_the_entities_check_skips_summaries() -> None:
    original = "Emma Thompson and Alice Eve both played Agent O."
    assert not refused(EntitiesKept()(item(original, "Two actresses played the role.", task="text_summarization")))


# --- evidence-backed corrections ------------------------------------------------------------------

JAWS = "Jaws (1975) was directed by George Lucas and was based on the novel by Peter Benchley."
JAWS_FIXED = "*Jaws* (1975) was directed by **Steven Spielberg**, adapting Peter Benchley's novel."
JAWS_EVIDENCE = (
    Evidence(
        text="Jaws is a 1975 American thriller film directed by Steven Spielberg, based on the 1974 novel by Peter "
        "Benchley.",
        title="Jaws (film)",
        url="https://example.org/jaws",
    ),
)


def test_a_name_corrected_to_the_evidence_is_accepted() -> None:
    assert not refused(EntitiesKept()(item(JAWS, JAWS_FIXED, "Who directed Jaws?", evidence=JAWS_EVIDENCE)))


def test_the_same_correction_without_evidence_is_refused() -> None:
    assert refused(EntitiesKept()(item(JAWS, JAWS_FIXED, "Who directed Jaws?")))


def test_a_change_the_evidence_does_not_support_is_refused() -> None:
    rewrite = JAWS_FIXED.replace("Steven Spielberg", "Ridley Scott")
    assert refused(EntitiesKept()(item(JAWS, rewrite, "Who directed Jaws?", evidence=JAWS_EVIDENCE)))


def test_corrections_can_be_switched_off() -> None:
    check = EntitiesKept(corrections=False)
    assert refused(check(item(JAWS, JAWS_FIXED, "Who directed Jaws?", evidence=JAWS_EVIDENCE)))


def test_a_number_corrected_to_the_evidence_is_accepted() -> None:
    evidence = (Evidence(text="The Berlin Wall fell on 9 November 1989.", url="https://example.org/wall"),)
    original = "The Berlin Wall fell on November 9, 1988."
    rewrite = "The Berlin Wall fell on **November 9, 1989**."
    assert not refused(NumbersKept()(item(original, rewrite, "When?", evidence=evidence)))


def test_a_number_changed_away_from_the_evidence_is_refused() -> None:
    evidence = (Evidence(text="Water boils at 100 °C (212 °F) at sea level."),)
    assert refused(NumbersKept()(item("Water boils at 210 °F.", "Water boils at 214 °F.", "?", evidence=evidence)))


def test_an_old_value_the_evidence_also_states_is_no_correction() -> None:
    evidence = (Evidence(text="Canberra is the capital; Sydney is the largest city."),)
    original = "The capital of Australia is Sydney."
    rewrite = "The capital of Australia is Canberra."
    assert refused(EntitiesKept()(item(original, rewrite, "What is the capital of Australia?", evidence=evidence)))


def corrected_row(corrections: bool = True) -> dict[str, object]:
    reply = f"Reasoning: fixed the director from the evidence.\nRevised response:\n{JAWS_FIXED}"

    class OpenQA:
        async def classify(self, instruction: str) -> TaskPrediction:
            return TaskPrediction(task="open_qa", confidence=1.0, source="fixed")

        async def aclose(self) -> None:
            return None

    pipeline = Pipeline(FakeLLM([reply]), classifier=OpenQA(), corrections=corrections)
    example = {"question": "Who directed Jaws?", "response": JAWS, "evidence": [e.model_dump() for e in JAWS_EVIDENCE]}
    [result] = realign.reformat([example], pipeline=pipeline)
    return result.model_dump()


def test_the_result_records_the_correction() -> None:
    assert corrected_row()["corrections"] == [
        {"from": "George Lucas", "to": "Steven Spielberg", "source": "https://example.org/jaws"}
    ]


def test_without_corrections_the_original_is_kept() -> None:
    assert corrected_row(corrections=False)["reason"] == "filter:entities"


def test_the_written_row_records_the_correction(tmp_path: Path) -> None:
    reply = f"Reasoning: fixed.\nRevised response:\n{JAWS_FIXED}"
    source = tmp_path / "in.jsonl"
    evidence = [e.model_dump() for e in JAWS_EVIDENCE]
    row = {
        "instruction": "Who directed Jaws?",
        "output": JAWS,
        "category": "open_qa",
        "realign": {"task": "open_qa", "confidence": 1.0, "evidence": evidence, "retrieval": "ok"},
    }
    source.write_text(json.dumps(row) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    realign.reformat_file(source, out, pipeline=Pipeline(FakeLLM([reply]), corrections=True))
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["realign"]["corrections"][0]["to"] == "Steven Spielberg"


def test_by_default_a_correction_needs_a_judge() -> None:
    # The rules cannot tell whose value the evidence states: without a judge a changed fact is refused.
    reply = f"Reasoning: fixed.\nRevised response:\n{JAWS_FIXED}"
    example = {"question": "Who directed Jaws?", "response": JAWS, "evidence": [e.model_dump() for e in JAWS_EVIDENCE]}
    [result] = realign.reformat([example], pipeline=Pipeline(FakeLLM([reply]), classifier=OpenQATask()))
    assert (result.reason, result.corrections) == ("filter:entities", [])


def test_by_default_a_judge_turns_corrections_on() -> None:
    reply = f"Reasoning: fixed.\nRevised response:\n{JAWS_FIXED}"
    judge = realign.LLMVerifier(FakeLLM(["VERDICT: yes\nREASON: supported."]))
    example = {"question": "Who directed Jaws?", "response": JAWS, "evidence": [e.model_dump() for e in JAWS_EVIDENCE]}
    pipeline = Pipeline(FakeLLM([reply]), classifier=OpenQATask(), verifier=judge, cache=False)
    [result] = realign.reformat([example], pipeline=pipeline)
    assert (result.tag, [c.after for c in result.corrections]) == ("rewrite", ["Steven Spielberg"])


def test_corrections_takes_only_true_false_or_auto() -> None:
    with pytest.raises(realign.UsageError, match="corrections must be"):
        Pipeline(FakeLLM(), corrections="yes")  # type: ignore[arg-type]


class OpenQATask:
    async def classify(self, instruction: str) -> TaskPrediction:
        return TaskPrediction(task="open_qa", confidence=1.0, source="fixed")

    async def aclose(self) -> None:
        return None


def test_build_checks_passes_the_corrections_switch() -> None:
    [check] = [c for c in build_checks(corrections=False) if getattr(c, "name", "") == "entities"]
    assert refused(check(item(JAWS, JAWS_FIXED, "Who directed Jaws?", evidence=JAWS_EVIDENCE)))


# --- numbers that are no facts of their own -------------------------------------------------------


def test_a_count_next_to_a_list_may_go_when_every_item_stays() -> None:
    original = "The Beatles had four members:\n1. John Lennon\n2. Paul McCartney\n3. George Harrison\n4. Ringo Starr"
    rewrite = "The Beatles were John Lennon, Paul McCartney, George Harrison and Ringo Starr."
    assert not refused(NumbersKept()(item(original, rewrite, "Who were the Beatles?")))


def test_a_count_may_not_go_when_an_item_goes() -> None:
    original = "There are six noble gases: helium, neon, argon, krypton, xenon and radon."
    rewrite = "The noble gases:\n- helium\n- neon\n- argon\n- krypton\n- xenon"
    assert refused(NumbersKept()(item(original, rewrite, "What are the noble gases?")))


def test_a_changed_count_is_refused_even_when_the_items_stay() -> None:
    original = "Painting uses 3 primary colors: red, yellow and blue."
    rewrite = "**Four primary colors:** red, yellow, blue and green."
    assert refused(NumbersKept()(item(original, rewrite, "How many primary colors?")))


def test_a_number_in_a_title_the_question_states_may_go() -> None:
    original = "Catch-22 was written by Joseph Heller and published in 1961."
    rewrite = "**Joseph Heller** wrote it; it came out in 1961."
    assert not refused(NumbersKept()(item(original, rewrite, "Who wrote Catch-22?")))


def test_the_two_of_them_is_no_count() -> None:
    original = "Homer and Grimes clash; between the two of them nothing goes well. It aired in 1997."
    rewrite = "Homer and Grimes clash constantly, and nothing goes well. It aired in 1997."
    assert not refused(NumbersKept()(item(original, rewrite, "What happens?")))


def test_a_number_the_question_states_outside_a_name_must_stay() -> None:
    original = "Dates: 1843 (Lovelace's notes), 1837 (Analytical Engine design)"
    rewrite = "**Dates:** 1843 (Lovelace's notes)"
    question = "Extract the dates: 'Ada Lovelace published her notes in 1843. Babbage designed it in 1837.'"
    assert refused(NumbersKept()(item(original, rewrite, question, task="information_extraction")))


def test_the_numbers_refusal_says_what_is_missing() -> None:
    answer = NumbersKept()(item("It has 4 legs and 2 eyes.", "It has 4 legs and eyes.", "?"))
    assert explanation(answer) == "missing: 2"


# --- restated final answers -------------------------------------------------------------------------


def test_an_answer_restated_without_its_reason_is_the_same_answer() -> None:
    question = "Which planet is known as the Red Planet?\nA) Venus\nB) Mars\nC) Jupiter\nD) Mercury"
    original = "The answer is B) Mars, because iron oxide on its surface gives it a reddish colour."
    rewrite = (
        "The answer is B) Mars.\n\nIron oxide covers much of its surface and gives it a reddish colour. In "
        "conclusion, Mars (B) is the Red Planet."
    )
    assert not refused(FinalAnswer()(item(original, rewrite, question)))


def test_a_named_answer_stated_by_another_name_form_is_the_same() -> None:
    original = "The correct answer is the Pacific Ocean, which covers a third of the Earth."
    rewrite = "The Pacific covers a third of the Earth.\n\nThe correct answer is the Pacific."
    assert not refused(FinalAnswer()(item(original, rewrite, "Which ocean is largest?")))


def test_a_changed_restated_answer_is_refused() -> None:
    original = "The answer is 36, since ten percent is 24 and five percent is 12."
    assert refused(FinalAnswer()(item(original, "10% is 24 and 5% is 12.\n\n**Answer:** 38", "15% of 240?")))


def test_a_short_answer_in_italian_is_kept_by_its_name() -> None:
    original = "L'ha scritta Dante Alighieri."
    rewrite = "La *Divina Commedia* è opera di **Dante Alighieri**."
    assert not refused(FinalAnswer()(item(original, rewrite, "Chi ha scritto la Divina Commedia?")))


# --- short answers switched to English ------------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "rewrite"),
    [
        ("Lo pintó Pablo Picasso en 1937.", "It was painted by **Pablo Picasso** in 1937."),
        ("Stolicą Polski jest Warszawa.", "The capital of Poland is **Warsaw**."),
        ("日本の首都は東京です。", "The capital of Japan is **Tokyo**."),
        ("The capital of Spain is Madrid.", "La capital de España es **Madrid**."),
    ],
)
def test_a_short_answer_translated_to_or_from_english_is_refused(original: str, rewrite: str) -> None:
    assert refused(LanguageConsistency()(item(original, rewrite, "?")))


@pytest.mark.parametrize(
    ("original", "rewrite"),
    [
        ("Lo pintó Pablo Picasso en 1937.", "El *Guernica* fue pintado por **Pablo Picasso** en 1937."),
        ("It was painted by Pablo Picasso.", "**Pablo Picasso** painted it, in 1937."),
        ("2% of 500 is 10, so 490 L are left.", "> Leak per day = 2% × 500 L = 10 L\n\nTL;DR: 490 litres."),
    ],
)
def test_a_short_answer_in_its_own_language_is_kept(original: str, rewrite: str) -> None:
    assert not refused(LanguageConsistency()(item(original, rewrite, "?")))


# --- issue 15, second round: classes of misses found on a second held-out set --------------------


@pytest.mark.parametrize(
    ("original", "rewrite"),
    [
        # a surname kept for a full name, and a possessive before a year
        ("The bridge was designed by Maria Okafor's 2004 plan.", "It follows Okafor's plan of 2004."),
        # a manager's title and first name dropped
        ("Coach Daniel Ferreira picked the squad.", "Ferreira picked the squad."),
        # a road kept without its country prefix
        ("Interstate travel began on U.S. Route 12 in 1926.", "Interstate travel began on Route 12 in 1926."),
        # a landmark without its size adjective
        ("The Great Barrier is a reef.", "The Barrier is a reef."),
        # a compound of two names of the original
        ("Ada Brook sings; she writes with pianist Leo Marsh.", "Brook sings and writes in the Brook-Marsh duo."),
    ],
)
def test_a_kept_part_of_a_multiword_name_keeps_it(original: str, rewrite: str) -> None:
    assert not refused(EntitiesKept()(item(original, rewrite, "Who?")))


def test_a_surname_given_another_first_name_is_still_refused() -> None:
    original = "The song was first recorded by Nora Vance."
    assert refused(EntitiesKept()(item(original, "The song was first recorded by Ivy Vance.", "Who?")))


def test_a_names_trading_roles_is_refused() -> None:
    original = "The capital of Freedonia is Portmund, while the largest city is Kessel."
    rewrite = "The capital of Freedonia is Kessel, while the largest city is Portmund."
    assert refused(EntitiesKept()(item(original, rewrite, "What is the capital of Freedonia?")))


def test_the_refusal_names_the_roles_swapped() -> None:
    original = "The capital of Freedonia is Portmund, while the largest city is Kessel."
    rewrite = "The capital of Freedonia is Kessel, while the largest city is Portmund."
    assert "swapped" in explanation(EntitiesKept()(item(original, rewrite, "What is the capital of Freedonia?")))


def test_two_listed_names_in_another_order_are_kept() -> None:
    original = "The shop was opened by Lena Park and Omar Reyes in 2001."
    rewrite = "The shop was opened by Omar Reyes and Lena Park in 2001."
    assert not refused(EntitiesKept()(item(original, rewrite, "Who opened the shop?")))


def test_two_figures_trading_places_are_refused() -> None:
    original = "The village had 812 people in 2001 and 1,240 people in 2021."
    rewrite = "The village had 1,240 people in 2001 and 812 people in 2021."
    assert refused(EntitiesKept()(item(original, rewrite, "How many people?")))


@pytest.mark.parametrize(
    ("original", "rewrite"),
    [
        ("The race covers 42 kilometres over hills.", "The race covers 42 miles over hills."),
        ("Sankthansaften feires 23. juni hvert år.", "Sankthansaften feires 23. juli hvert år."),
    ],
)
def test_a_unit_or_month_changed_after_a_number_is_refused(original: str, rewrite: str) -> None:
    assert refused(EntitiesKept()(item(original, rewrite, "?")))


def test_a_unit_abbreviated_after_a_number_is_kept() -> None:
    original = "Cut the board to 30 centimetres before sanding it."
    assert not refused(EntitiesKept()(item(original, "Cut the board to 30 cm before sanding it.", "?")))


def test_a_title_given_another_number_is_refused_even_when_the_question_names_it() -> None:
    original = "Summer Song 7 was written by Rhea Lind and released in 1988."
    rewrite = "*Summer Song 9* was written by Rhea Lind and released in 1988."
    assert refused(EntitiesKept()(item(original, rewrite, "who wrote summer song 7")))


def test_a_true_or_false_question_offers_no_names_to_choose_from() -> None:
    original = "False. The Blue Tower is too short to be seen from the coast."
    rewrite = "**False.** The Tower is too short to be seen from the coast."
    question = "True or false: the Blue Tower can be seen from the coast."
    assert not refused(EntitiesKept()(item(original, rewrite, question, task="fact_verification")))


def test_an_abbreviation_in_parentheses_may_go_with_its_word_kept() -> None:
    original = "Table salt is made of sodium (Na) and chlorine (Cl)."
    assert not refused(EntitiesKept()(item(original, "Table salt is made of sodium and chlorine.", "?")))


def test_a_region_after_its_city_may_go() -> None:
    original = "The festival is held in Lyon, France, every December."
    assert not refused(EntitiesKept()(item(original, "The festival is held in Lyon every December.", "Where?")))


def test_a_listed_place_is_no_region_of_the_one_before() -> None:
    original = "It sells to Peru, Chile, Bolivia and Ecuador."
    assert refused(EntitiesKept()(item(original, "It sells to Peru, Bolivia and Ecuador.", "Where?")))


def test_the_opening_name_in_bold_first_is_its_own_answer() -> None:
    original = "Race Day 2 (2011) won the award, and Race Day 3 (2016) won it too."
    rewrite = "Two of them won the award:\n\n- **Race Day 2** (2011)\n- **Race Day 3** (2016)"
    assert not refused(EntitiesKept()(item(original, rewrite, "which film won the award")))


def test_a_count_written_as_a_word_in_another_language_is_kept() -> None:
    original = "Österreich hat 9 Bundesländer, darunter Wien."
    rewrite = "Es sind **neun** Bundesländer; eines davon ist Wien."
    assert not refused(NumbersKept()(item(original, rewrite, "Wie viele Bundesländer hat Österreich?")))


def test_a_year_with_an_apostrophe_keeps_its_century() -> None:
    original = "The band split up in 1987 after a last tour."
    assert not refused(NumbersKept()(item(original, "The band split up in '87 after a last tour.", "?")))


def test_a_count_before_a_list_on_the_lines_below_may_go() -> None:
    original = "The three founders were:\n1. Ana Silva\n2. Bo Chen\n3. Cy Dube"
    rewrite = "The founders were Ana Silva, Bo Chen and Cy Dube."
    assert not refused(NumbersKept()(item(original, rewrite, "Who founded it?")))


def test_a_count_before_a_list_with_an_item_changed_is_still_refused() -> None:
    original = "The three founders were:\n1. Ana Silva\n2. Bo Chen\n3. Cy Dube"
    rewrite = "The founders were Ana Silva, Bo Chen and Di Moyo."
    assert refused(NumbersKept()(item(original, rewrite, "Who founded it?")))


def test_a_number_glued_to_japanese_text_is_read() -> None:
    original = "この橋の長さは1,991メートルです。"
    assert refused(NumbersKept()(item(original, "この橋の長さは1,919メートルです。", "?")))


def test_an_option_restated_as_its_letter_keeps_the_answer() -> None:
    question = "Which is a mammal?\nA) Trout\nB) Whale\nC) Shark"
    original = "The answer is B) Whale. Whales breathe air and feed their young milk."
    rewrite = "The answer is B. Whales breathe air and nurse their young with milk."
    assert not refused(FinalAnswer()(item(original, rewrite, question, task="exam_problem_solving_tutor")))


def test_an_option_restated_as_another_letter_is_refused() -> None:
    question = "Which is a mammal?\nA) Trout\nB) Whale\nC) Shark"
    original = "The answer is B) Whale. Whales breathe air and feed their young milk."
    rewrite = "The answer is C. Whales breathe air and nurse their young with milk."
    assert refused(FinalAnswer()(item(original, rewrite, question, task="exam_problem_solving_tutor")))


def test_chinese_rewritten_in_japanese_is_refused() -> None:
    original = "这座桥由一位工程师设计，于一九九八年建成，至今仍在使用。"
    rewrite = "この橋は一人の技術者が設計し、一九九八年に完成して、今も使われています。"
    assert refused(LanguageConsistency()(item(original, rewrite, "?")))


@pytest.mark.parametrize(
    ("original", "rewrite"),
    [
        (
            "A cidade foi fundada em 1554 pelos jesuítas, no planalto.",
            "La ciudad fue fundada en 1554 por los jesuitas.",
        ),
        (
            "Els comtes hi van viure fins a la seva mort, amb els seus fills.",
            "Los condes vivieron allí hasta su muerte, con sus hijos.",
        ),
    ],
)
def test_a_short_answer_moved_to_a_neighbouring_language_is_refused(original: str, rewrite: str) -> None:
    assert refused(LanguageConsistency()(item(original, rewrite, "?")))


def test_a_short_answer_reworded_in_its_own_language_is_kept() -> None:
    original = "A cidade foi fundada em 1554 pelos jesuítas, no planalto."
    rewrite = "Foram os jesuítas que fundaram a cidade no planalto, em 1554."
    assert not refused(LanguageConsistency()(item(original, rewrite, "?")))


def test_a_name_of_the_passage_the_question_carries_must_still_be_kept() -> None:
    question = (
        "Using the text, where was the club founded?\n\n"
        "Text: The Harbour Rowing Club was founded in 1921 in Tarvik. In 1960 it moved its boathouse to Ostrand."
    )
    original = "The Harbour Rowing Club was founded in 1921 in Tarvik."
    rewrite = "The Harbour Rowing Club was founded in 1921 in **Ostrand**."
    assert refused(EntitiesKept()(item(original, rewrite, question, task="closed_qa")))


def test_a_name_the_question_sentence_states_may_still_be_left_out() -> None:
    question = (
        "Using the text, when did the Harbour Rowing Club start?\n\nText: The Harbour Rowing Club started in 1921."
    )
    original = "The Harbour Rowing Club started in 1921."
    assert not refused(EntitiesKept()(item(original, "It started in **1921**.", question, task="closed_qa")))


def test_another_name_of_the_original_after_the_same_words_is_a_swap() -> None:
    original = "The lead role is sung by Carla Mendes, and her sister Rita Mendes sings it on tour."
    rewrite = "The lead role is sung by **Rita Mendes**; on tour her sister Carla Mendes sings it."
    assert refused(EntitiesKept()(item(original, rewrite, "Who sings the lead role?")))


def test_a_long_title_shortened_to_its_second_part_is_no_swap() -> None:
    original = (
        "The Tide Song books are by Ana Ruiz. The last volume, Tide Song and the Silver Harbour, came out in 2010."
    )
    rewrite = "**Ana Ruiz** wrote them. The last volume, *Silver Harbour*, came out in 2010."
    assert not refused(EntitiesKept()(item(original, rewrite, "who wrote the tide song books")))


def test_a_day_changed_within_its_month_is_refused_even_when_the_old_day_is_another_month() -> None:
    original = "The fair opened on 3 March 2011 and closed on 20 March 2011."
    rewrite = "The fair opened on 4 March 2011 and closed on 20 March 2011."
    assert refused(NumbersKept()(item(original, rewrite, "When did the fair open?")))


def test_a_numbered_name_renumbered_is_refused_when_its_old_number_stays_elsewhere() -> None:
    original = "It was Voyager 5. On 5 May the probe lost contact for a day."
    rewrite = "## Voyager 6\n\nOn 5 May the probe lost contact for a day."
    assert refused(EntitiesKept()(item(original, rewrite, "which voyager probe lost contact")))


def test_a_numbered_name_with_its_number_apart_is_kept() -> None:
    original = "Brazil hosted the 1950 Rugby Cup in Rio."
    rewrite = "The Rugby Cup was hosted in 1950 by Brazil, in Rio."
    assert not refused(EntitiesKept()(item(original, rewrite, "Who hosted it?")))


# --- third round: classes of answers_heldout3's misses -------------------------------------------------


def test_a_passage_before_a_question_label_does_not_excuse_the_answers_names() -> None:
    question = 'Text: "The ferry leaves Brindle Harbour for Oskar Island at dawn." Question: Where does the ferry go?'
    original = "It goes to Oskar Island."
    rewrite = "**Brindle Island.** It leaves at dawn."
    assert refused(EntitiesKept()(item(original, rewrite, question, task="closed_qa")))


def test_a_name_of_the_question_part_after_its_label_is_still_excused() -> None:
    question = 'Text: "The ferry leaves Brindle Harbour for Oskar Island at dawn." Question: When does Oskar sail?'
    original = "Oskar sails at dawn, from Brindle Harbour."
    rewrite = "At dawn, from Brindle Harbour."
    assert not refused(EntitiesKept()(item(original, rewrite, question, task="closed_qa")))


def test_a_name_the_question_half_states_is_kept_by_that_half() -> None:
    original = "Marco Ferrante was born in Genoa in 1801."
    rewrite = "**Marco** was born in Genoa, in 1801."
    assert not refused(EntitiesKept()(item(original, rewrite, "where was marco born")))


def test_the_half_the_question_states_inside_another_name_keeps_nothing() -> None:
    original = "The letters were copied by Brother Anselm, the abbey's scribe."
    rewrite = "Brother Tomas copied the letters himself."
    assert refused(EntitiesKept()(item(original, rewrite, "Which brother copied the letters?")))


LEADER_EVIDENCE = (
    Evidence(
        text="Lena Ostrova has chaired the Harbour Board since 2019, after Piet Maas.", url="https://example.org/hb"
    ),
)


def test_a_new_answer_the_evidence_states_is_a_correction() -> None:
    original = "The Harbour Board is chaired by Piet Maas."
    rewrite = "**Lena Ostrova** has chaired the Harbour Board since 2019, after Piet Maas."
    answer = EntitiesKept()(item(original, rewrite, "who chairs the harbour board", evidence=LEADER_EVIDENCE))
    assert not refused(answer)


def test_a_new_answer_without_evidence_is_still_refused() -> None:
    original = "The Harbour Board is chaired by Piet Maas."
    rewrite = "**Lena Ostrova** has chaired the Harbour Board since 2019, after Piet Maas."
    assert refused(EntitiesKept()(item(original, rewrite, "who chairs the harbour board")))


def test_a_month_corrected_to_the_evidence_is_accepted() -> None:
    evidence = (Evidence(text="The bridge opened to traffic on 4 May 1931.", url="https://example.org/bridge"),)
    original = "The Kessel bridge opened on 4 April 1931, after two years of work."
    rewrite = "The Kessel bridge opened on **4 May 1931**, after two years of work."
    assert not refused(EntitiesKept()(item(original, rewrite, "When did it open?", evidence=evidence)))


def test_a_month_changed_away_from_the_evidence_is_refused() -> None:
    evidence = (Evidence(text="The bridge opened to traffic on 4 May 1931.", url="https://example.org/bridge"),)
    original = "The Kessel bridge opened on 4 April 1931, after two years of work."
    rewrite = "The Kessel bridge opened on 4 June 1931, after two years of work."
    assert refused(EntitiesKept()(item(original, rewrite, "When did it open?", evidence=evidence)))


def test_a_short_answer_put_into_english_without_english_function_words_in_the_original_is_refused() -> None:
    question = "Wer hat die Sinfonie geschrieben?"
    original = "Die Sinfonie schrieb Clara Weidner im Jahr 1871."
    rewrite = "The symphony was written by **Clara Weidner** in 1871."
    assert refused(LanguageConsistency()(item(original, rewrite, question)))


def test_a_short_answer_kept_in_its_language_with_a_title_is_kept() -> None:
    question = "Wer hat die Sinfonie geschrieben?"
    original = "Die Sinfonie schrieb Clara Weidner im Jahr 1871."
    rewrite = "**Clara Weidner** schrieb *The Northern Lights* 1871."
    assert not refused(LanguageConsistency()(item(original, rewrite, question)))


def test_an_english_list_answer_without_function_words_is_no_translation() -> None:
    question = "Rank these rivers, longest first: Tamsa, Oril, Vend."
    original = "Tamsa, Vend, Oril."
    rewrite = "1. **Tamsa** is the longest of them\n2. Vend\n3. Oril"
    assert not refused(LanguageConsistency()(item(original, rewrite, question)))


def entities_refuse(question: str, original: str, rewrite: str) -> bool:
    return refused(EntitiesKept()(item(original, rewrite, question)))


def test_initials_stand_for_the_given_names_they_begin() -> None:
    question = "Who wrote The Hobbit?"
    original = "The Hobbit was written by J. R. R. Tolkien and published in 1937."
    assert (
        entities_refuse(question, original, "**John Ronald Reuel Tolkien** wrote it; it came out in 1937."),
        entities_refuse(question, original, "- **Author:** Prof. J.R.R. Tolkien\n- **Published:** 1937"),
        entities_refuse(question, original, "**Christopher Tolkien** wrote it; it came out in 1937."),
    ) == (False, False, True)


def test_a_german_umlaut_written_as_two_letters_is_the_same_name() -> None:
    question = "Who scored Germany's first goal?"
    original = "In the final it was Thomas Müller who scored the first goal of the match, in the 11th minute."
    assert (
        entities_refuse(question, original, "In the final, **Thomas Mueller** opened the scoring in the 11th minute."),
        entities_refuse(question, original, "In the final, **Gerd Mueller** opened the scoring in the 11th minute."),
    ) == (False, True)


def test_a_temperature_unit_spelled_out_after_the_same_number_is_kept() -> None:
    question = "At what temperature does ethanol boil?"
    original = "Ethanol boils at 78 °C (172 °F)."
    assert (
        entities_refuse(question, original, "It boils at **78 degrees Celsius**, that is 172 degrees Fahrenheit."),
        entities_refuse(question, original, "It boils at **78 degrees Fahrenheit**, that is 172 degrees Celsius."),
    ) == (False, True)


def final_answer_refuses(question: str, original: str, rewrite: str) -> bool:
    return refused(FinalAnswer()(item(original, rewrite, question)))


def test_a_short_answer_in_a_script_without_spaces_is_found_by_its_own_characters() -> None:
    question = "《西游记》的作者是谁？"
    assert (
        final_answer_refuses(question, "《西游记》的作者是吴承恩。", "**吴承恩**。一般认为成书于明代。"),
        final_answer_refuses(question, "吴承恩。", "《西游记》的作者是**吴承恩**（明代）。"),
        final_answer_refuses(question, "吴承恩。", "《西游记》的作者是**施耐庵**（明代）。"),
    ) == (False, False, True)


def test_a_short_answer_with_a_particle_glued_on_is_found_without_it() -> None:
    question = "거북선을 만든 사람은 누구입니까?"
    assert (
        final_answer_refuses(question, "이순신입니다.", "거북선은 **이순신** 장군이 만들었습니다."),
        final_answer_refuses(question, "이순신입니다.", "거북선은 **원균** 장군이 만들었습니다."),
    ) == (False, True)


def test_the_words_a_short_answer_repeats_from_its_question_are_not_its_answer() -> None:
    question = "ما هي عاصمة الأردن؟"
    original = "عاصمة الأردن هي عمّان."
    assert (
        final_answer_refuses(question, original, "عاصمة المملكة الأردنية الهاشمية هي **عمّان**."),
        final_answer_refuses(question, original, "عاصمة المملكة الأردنية الهاشمية هي **إربد**."),
    ) == (False, True)


def test_a_short_answer_s_number_word_of_another_language_may_be_written_in_digits() -> None:
    question = "¿Cuántas patas tiene una araña?"
    assert (
        final_answer_refuses(question, "Ocho.", "Una araña tiene **8 patas**."),
        final_answer_refuses(question, "Ocho.", "Una araña tiene **6 patas**."),
    ) == (False, True)


def test_polish_number_words_state_a_number() -> None:
    question = "Ile nóg ma pająk?"
    assert (
        final_answer_refuses(question, "Pająk ma 8 nóg.", "Pająk ma **osiem nóg**."),
        final_answer_refuses(question, "Pająk ma 8 nóg.", "Pająk ma **sześć nóg**."),
    ) == (False, True)


def language_refuses(question: str, original: str, rewrite: str) -> bool:
    return refused(LanguageConsistency()(item(original, rewrite, question)))


def test_a_names_only_answer_to_a_question_asked_in_another_language_put_into_english_is_refused() -> None:
    question = "Hvem komponerte Peer Gynt?"
    assert (
        language_refuses(question, "Edvard Grieg.", "*Peer Gynt* was composed by **Edvard Grieg**."),
        language_refuses(question, "Edvard Grieg.", "**Edvard Grieg** (1843-1907)."),
        language_refuses("Who composed Peer Gynt?", "Edvard Grieg.", "It was composed by **Edvard Grieg**."),
    ) == (True, False, False)


def test_finnish_on_is_no_english_word() -> None:
    question = "Mikä on Ruotsin pääkaupunki?"
    assert language_refuses(question, "Ruotsin pääkaupunki on Tukholma.", "The capital of Sweden is Stockholm.")


def test_a_particle_inside_a_name_is_no_word_of_another_language() -> None:
    question = "Wer schrieb die Räuber?"
    original = "Friedrich von Schiller schrieb das Drama."
    assert language_refuses(question, original, "The play was written by Friedrich von Schiller.")


def test_the_opening_the_is_an_english_word() -> None:
    question = "Mto mrefu zaidi Afrika ni upi?"
    assert language_refuses(question, "Mto mrefu zaidi barani Afrika ni Nile.", "The Nile is Africa's longest river.")


def test_a_quoted_title_is_not_the_language_of_its_sentence() -> None:
    question = "Qui a écrit « Le Rouge et le Noir » ?"
    original = "« Le Rouge et le Noir » a été écrit par Stendhal en 1830."
    rewrite = "« Le Rouge et le Noir » was written by Stendhal in 1830."
    assert language_refuses(question, original, rewrite)


def test_a_short_answer_in_another_script_rewritten_in_latin_prose_is_refused() -> None:
    original = "エベレストの標高は8,849メートルです。"
    assert (
        language_refuses("エベレストの高さは？", original, "Everest is 8,849 metres high."),
        language_refuses("エベレストの高さは？", original, "Everest: 8,849 m (29,032 ft)"),
    ) == (True, False)


def test_a_verdict_flipped_in_another_language_is_refused() -> None:
    original = "Oui, c'est exact : la baleine est un mammifère."
    rewrite = "**Non.** La baleine est un poisson."
    assert refused(VerdictKept()(item(original, rewrite, "La baleine est-elle un mammifère ?", "fact_verification")))


def test_a_verdict_kept_in_another_language_is_kept() -> None:
    original = "Oui, c'est exact : la baleine est un mammifère."
    rewrite = "**Oui.** La baleine est un mammifère."
    assert not refused(
        VerdictKept()(item(original, rewrite, "La baleine est-elle un mammifère ?", "fact_verification"))
    )


@pytest.mark.parametrize(
    ("original", "kept", "flipped"),
    [
        (
            "Falsch. Das Gedächtnis reicht Monate.",
            "**Falsch** – es reicht Monate.",
            "Die Aussage ist wahr: nur Sekunden.",
        ),
        ("Faux. Elle est trop étroite.", "C'est faux : elle est trop étroite.", "**Vrai** – elle se voit bien."),
        ("Falso. Todos pueden ver.", "Veredicto: **falso**. Todos ven.", "Es cierto: no ven nada."),
        ("Verdadeiro. A baleia respira ar e amamenta.", "**Verdadeiro** – respira ar.", "Não é verdade: é um peixe."),
        ("Onwaar. Te smal.", "**Onwaar**: veel te smal.", "**Waar** – je ziet hem goed."),
        ("Неверно. Бьёт часто.", "**Неверно** - бьёт снова и снова.", "**Верно** - почти никогда."),
        ("Yanlış. Memelidir.", "**Yanlış.** Memeli hayvanlardır.", "**Doğru.** Balıktır."),
        ("错误。长城太窄。", "**错误**：长城只有几米宽。", "**正确**：可以看到长城。"),
        ("正しいです。果実です。", "**正しい**：ベリーです。", "**誤り**：野菜です。"),
    ],
)
def test_a_verdict_of_another_language_is_read(original: str, kept: str, flipped: str) -> None:
    assert (
        refused(VerdictKept()(item(original, kept, "?", "fact_verification"))),
        refused(VerdictKept()(item(original, flipped, "?", "fact_verification"))),
    ) == (False, True)


def test_an_opening_no_of_another_language_before_a_dash_is_read() -> None:
    original = "Nein. Wale sind Säugetiere."
    rewrite = "**Nein** – Wale sind Säugetiere, keine Fische."
    assert not refused(VerdictKept()(item(original, rewrite, "Sind Wale Fische?", "fact_verification")))


def test_a_verdict_stated_as_an_option_is_read_through_the_option() -> None:
    question = "True or false: lightning never strikes twice.\nA) True\nB) False"
    original = "B) False. Tall towers are struck often."
    assert (
        refused(
            VerdictKept()(
                item(original, "The answer is **(B)**: towers are struck often.", question, "general_classification")
            )
        ),
        refused(
            VerdictKept()(item(original, "The answer is (A) True: rarely twice.", question, "general_classification"))
        ),
    ) == (False, True)


def test_an_option_that_is_no_verdict_leaves_the_pick_to_the_option_check() -> None:
    question = "In which year did it happen? A) 1979 B) 1984 C) 1986 D) 1991"
    original = "C) 1986. It happened at reactor No. 4 of the plant."
    rewrite = "**Correct option: C (1986)**\n\n- **Where:** reactor No. 4 of the plant"
    assert not refused(VerdictKept()(item(original, rewrite, question, "general_classification")))


def test_a_short_answer_that_is_an_option_is_no_label_to_repeat() -> None:
    question = "What is the SI unit of resistance? A) Volt B) Ampere C) Ohm D) Watt"
    rewrite = "The answer is **C: the ohm (Ω)**, named after Georg Simon Ohm."
    assert not refused(VerdictKept()(item("C) Ohm, symbol Ω.", rewrite, question, "general_classification")))


def test_the_number_sign_no_is_no_verdict() -> None:
    original = "Unit No. 4 failed first; the others held."
    rewrite = "**Correct:** unit No. 4 failed first, the others held."
    assert not refused(VerdictKept()(item(original, rewrite, "What failed?", "fact_verification")))


def test_a_yes_word_of_another_language_opening_a_longer_word_is_no_verdict() -> None:
    original = "Non-stick pans need low heat."
    rewrite = "Yes, keep the heat low for such pans."
    assert not refused(VerdictKept()(item(original, rewrite, "How do I cook with these pans?", "advice_giving")))


def test_two_names_trading_roles_in_a_rebuilt_text_is_refused() -> None:
    original = "The bridge was designed by Hana Kovac in 1931. Lars Ebbe built its towers in 1934."
    rewrite = "## The bridge\n\n- **Lars Ebbe** designed it (1931).\n- Hana Kovac built the towers, finished in 1934."
    assert refused(EntitiesKept()(item(original, rewrite, "Who designed the bridge?")))


def test_two_names_keeping_their_roles_in_a_rebuilt_text_are_kept() -> None:
    original = "The bridge was designed by Hana Kovac in 1931. Lars Ebbe built its towers in 1934."
    rewrite = "## The bridge\n\n- **Hana Kovac** designed it (1931).\n- Lars Ebbe built the towers, finished in 1934."
    assert not refused(EntitiesKept()(item(original, rewrite, "Who designed the bridge?")))


def test_two_figures_trading_what_they_measure_is_refused() -> None:
    original = "A cub weighs about 2 kg at birth. An adult weighs around 180 kg."
    rewrite = "- Adult: about 2 kg\n- Cub at birth: around 180 kg"
    assert refused(EntitiesKept()(item(original, rewrite, "How heavy is it?")))


def test_sentences_merged_so_that_both_names_share_one_are_no_swap() -> None:
    original = "The bridge was designed by Hana Kovac in 1931. Lars Ebbe built its towers in 1934."
    rewrite = "Hana Kovac designed the bridge in 1931 and Lars Ebbe built its towers in 1934, so both shaped it."
    assert not refused(EntitiesKept()(item(original, rewrite, "Who designed the bridge?")))


def test_a_name_list_regrouped_into_a_table_is_no_swap() -> None:
    original = "Crew: Mira Holt, Ivo Sand\nDates: 2011 (Holt's first flight), 2014 (Ivo Sand's landing)"
    rewrite = (
        "| Person | Event | Year |\n|---|---|---|\n| Mira Holt | first flight | 2011 |\n| Ivo Sand | landing | 2014 |"
    )
    assert not refused(
        EntitiesKept()(item(original, rewrite, "List the crew and dates.", task="information_extraction"))
    )


def test_a_number_kept_with_another_unit_is_refused() -> None:
    original = "The tank holds 40 litres, enough for a week."
    rewrite = "**40 gallons**: enough for a week."
    assert refused(NumbersKept()(item(original, rewrite, "How much does the tank hold?")))


def test_a_rate_kept_with_another_time_unit_is_refused() -> None:
    original = "The glacier moves about 30 metres per year."
    rewrite = "It moves roughly 30 metres per day."
    assert refused(NumbersKept()(item(original, rewrite, "How fast does the glacier move?")))


def test_a_unit_written_short_is_the_same_unit() -> None:
    original = "The trail is 12 kilometres long and climbs for 3 hours."
    rewrite = "- Length: 12 km\n- Climb: 3 h"
    assert not refused(NumbersKept()(item(original, rewrite, "How long is the trail?")))


def test_a_unit_written_as_part_of_a_longer_phrase_is_the_same_unit() -> None:
    original = "The course takes 10 weeks in all."
    rewrite = "It is a 10-week course."
    assert not refused(NumbersKept()(item(original, rewrite, "How long is the course?")))


def test_a_unit_corrected_to_the_evidence_is_accepted() -> None:
    evidence = (Evidence(text="The lake is 8 miles long.", url="https://example.org/lake"),)
    original = "The lake is 8 kilometres long."
    rewrite = "The lake is **8 miles** long."
    assert not refused(NumbersKept()(item(original, rewrite, "How long is the lake?", evidence=evidence)))


def test_a_date_written_with_dots_keeps_the_date() -> None:
    original = "Die Brücke wurde am 4. Oktober 1932 eröffnet."
    rewrite = "**Eröffnung:** 04.10.1932"
    assert not refused(NumbersKept()(item(original, rewrite, "Wann wurde die Brücke eröffnet?")))


def test_a_date_written_with_dots_and_another_month_is_refused() -> None:
    original = "Die Brücke wurde am 4. Oktober 1932 eröffnet."
    rewrite = "**Eröffnung:** 04.11.1932"
    assert refused(NumbersKept()(item(original, rewrite, "Wann wurde die Brücke eröffnet?")))


def test_a_number_in_scientific_notation_is_the_same_number() -> None:
    original = "The colony holds about 40,000 bees."
    rewrite = "Roughly 4 × 10^4 bees."
    assert not refused(NumbersKept()(item(original, rewrite, "How many bees?")))


def test_a_dot_grouping_thousands_is_the_same_number() -> None:
    original = "El embalse guarda unos 2.350 hectómetros cúbicos."
    rewrite = "**2350 hm³** aproximadamente."
    assert not refused(NumbersKept()(item(original, rewrite, "¿Cuánta agua guarda?")))


def test_a_century_written_as_its_hundreds_is_the_same_century() -> None:
    original = "The chapel dates from the 12th century."
    rewrite = "It was built in the 1100s."
    assert not refused(NumbersKept()(item(original, rewrite, "How old is the chapel?")))


def test_a_year_said_in_words_is_kept_by_its_digits() -> None:
    original = "The play is set in Nineteen Sixty-Two, in Lisbon."
    rewrite = "It is set in **1962**, in Lisbon."
    assert not refused(NumbersKept()(item(original, rewrite, "When is the play set?")))


def test_a_count_written_as_a_russian_word_is_kept() -> None:
    original = "В команде 7 игроков."
    rewrite = "**Семь** игроков в команде."
    assert not refused(NumbersKept()(item(original, rewrite, "Сколько игроков в команде?")))


def test_a_month_and_year_stated_apart_keep_the_date() -> None:
    original = "The dam was begun in March 1950 and finished in October 1950."
    rewrite = "Work ran through 1950: it began in March and ended in October."
    assert not refused(NumbersKept()(item(original, rewrite, "When was the dam built?")))


def test_a_day_and_month_kept_in_another_year_is_refused() -> None:
    original = "The shop opened on 2 May 2011; the 2011 season began on 9 June 2011."
    rewrite = "The shop opened on 2 May 2012; the 2011 season began on 9 June 2011."
    assert refused(NumbersKept()(item(original, rewrite, "When did the shop open?")))


def test_a_place_inflected_by_its_case_is_kept() -> None:
    original = "Поезд идёт от Новгород до Тверь."
    rewrite = "Поезд идёт из Новгорода в Тверь."
    assert not refused(EntitiesKept()(item(original, rewrite, "Куда идёт поезд?")))


def test_a_place_named_by_a_word_derived_from_it_is_kept() -> None:
    original = "The river rises in the mountains of Chile."
    rewrite = "It rises in the **Chilean** mountains."
    assert not refused(EntitiesKept()(item(original, rewrite, "Where does the river rise?")))


def test_a_similar_looking_other_place_is_no_derived_form() -> None:
    original = "The tour ends in Austria."
    rewrite = "The tour ends in **Australia**."
    assert refused(EntitiesKept()(item(original, rewrite, "Where does the tour end?")))


def test_a_middle_initial_does_not_split_a_name() -> None:
    original = "The motion was carried after Anna J. Brook spoke."
    rewrite = "After Brook spoke, the motion carried."
    assert not refused(EntitiesKept()(item(original, rewrite, "When was the motion carried?")))


def test_a_ukrainian_answer_rewritten_in_russian_is_refused() -> None:
    original = "Вірш написав Іван Франко в 1880 році."
    rewrite = "Стихотворение написал Иван Франко в 1880 году."
    assert refused(LanguageConsistency()(item(original, rewrite, "Хто написав вірш?")))


def test_a_ukrainian_answer_kept_in_ukrainian_is_kept() -> None:
    original = "Вірш написав Іван Франко в 1880 році."
    rewrite = "**Іван Франко** написав цей вірш у 1880 році."
    assert not refused(LanguageConsistency()(item(original, rewrite, "Хто написав вірш?")))


OPTIONS_QUESTION = "Which metal is liquid at room temperature? (a) Iron (b) Mercury (c) Copper (d) Zinc"


def test_another_letter_named_beside_the_original_options_text_is_refused() -> None:
    original = "(b) Mercury. It melts at about -39 °C."
    rewrite = "The right pick is **(c)**: Mercury, which melts at about -39 °C."
    assert refused(OptionKept()(item(original, rewrite, OPTIONS_QUESTION, "exam_problem_solving_tutor")))


def test_the_same_letter_named_again_is_kept() -> None:
    original = "(b) Mercury. It melts at about -39 °C."
    rewrite = "Mercury **(b)** melts at about -39 °C."
    assert not refused(OptionKept()(item(original, rewrite, OPTIONS_QUESTION, "exam_problem_solving_tutor")))


def test_a_wrong_option_discussed_beside_the_right_letter_is_kept() -> None:
    original = "(b) Mercury. It melts at about -39 °C."
    rewrite = "Iron (option a) melts far higher; the liquid one is Mercury: **B**."
    assert not refused(OptionKept()(item(original, rewrite, OPTIONS_QUESTION, "exam_problem_solving_tutor")))


def test_another_number_after_the_same_words_is_refused_though_the_old_one_stays() -> None:
    original = "The museum opened in 1921 near the harbour."
    rewrite = "The museum opened in **1923** near the harbour; plans were drawn up in 1921."
    assert refused(NumbersKept()(item(original, rewrite, "When did the museum open?")))


def test_another_count_word_after_the_same_words_is_refused() -> None:
    original = "A spider has eight legs."
    rewrite = "A spider has **six legs**, and eight eyes in many species."
    assert refused(NumbersKept()(item(original, rewrite, "How many legs does a spider have?")))


def test_a_number_after_the_same_words_in_another_sentence_is_no_change() -> None:
    original = "A square has exactly four sides. 12 squares fill the grid."
    rewrite = "A square has exactly four sides, 2 pairs of them parallel. The grid holds 12 squares."
    assert not refused(NumbersKept()(item(original, rewrite, "How many squares?")))


def test_a_number_changed_to_what_the_evidence_states_is_accepted() -> None:
    evidence = (Evidence(text="The museum first opened its doors in 1923.", url="https://example.org/museum"),)
    original = "The museum opened in 1921 near the harbour."
    rewrite = "The museum opened in **1923** near the harbour; plans were drawn up in 1921."
    assert not refused(NumbersKept()(item(original, rewrite, "When did the museum open?", evidence=evidence)))


def test_a_name_with_a_particle_is_kept_by_its_first_word() -> None:
    original = "Il ritratto fu dipinto da Giacomo da Ferrante nel 1620."
    rewrite = "**Autore:** Giacomo (1620)"
    assert not refused(EntitiesKept()(item(original, rewrite, "Chi ha dipinto il ritratto?")))


def test_the_first_word_of_a_name_with_a_particle_given_to_another_is_refused() -> None:
    original = "Il ritratto fu dipinto da Giacomo da Ferrante nel 1620."
    rewrite = "**Autore:** Giacomo Rossi (1620)"
    assert refused(EntitiesKept()(item(original, rewrite, "Chi ha dipinto il ritratto?")))


def test_a_score_after_a_team_is_no_part_of_its_name() -> None:
    original = "Norway won the final, beating Brazil 2–1 after extra time."
    rewrite = "| Final | Norway 2–1 Brazil (a.e.t.) |"
    assert not refused(EntitiesKept()(item(original, rewrite, "Who won the final?")))


def test_a_name_joined_by_of_is_kept_when_each_half_is_in_any_form() -> None:
    original = "The race was won by Mira Solberg of the United Kingdom in 2019."
    rewrite = "**Mira Solberg** (UK) won it in 2019."
    assert not refused(EntitiesKept()(item(original, rewrite, "Who won the race?")))


def test_a_name_joined_by_of_with_its_second_half_changed_is_refused() -> None:
    original = "The race was won by Mira Solberg of the United Kingdom in 2019."
    rewrite = "**Mira Solberg** (Sweden) won it in 2019."
    assert refused(EntitiesKept()(item(original, rewrite, "Who won the race?")))


# --- what a correction records ---------------------------------------------------------------------


def recorded(original: str, rewrite: str, evidence: str, question: str = "Q?") -> list[tuple[str, str]]:
    from realign._checks.corrections import find_corrections

    found = find_corrections(item(original, rewrite, question, evidence=(Evidence(text=evidence, url="u"),)))
    return [(c.before, c.after) for c in found]


def test_a_quantity_is_paired_with_the_new_quantity_of_its_unit() -> None:
    pairs = recorded(
        "Mount Kilimanjaro rises to about 5,985 metres (19,635 ft) above sea level.",
        "**About 5,895 metres (19,341 ft).** Kilimanjaro is the highest mountain in Africa.",
        "Its summit, Uhuru Peak, is 5,895 metres (19,341 ft) above sea level.",
    )
    assert ("19,635", "19,341") in pairs


def test_a_person_is_paired_with_a_person_not_a_title() -> None:
    pairs = recorded(
        "1984 was written by Aldous Huxley.",
        "*1984* (*Nineteen Eighty-Four*) was written by **George Orwell** and published in 1949.",
        "Nineteen Eighty-Four (also published as 1984) is a dystopian novel by the English writer George Orwell.",
    )
    assert pairs == [("Aldous Huxley", "George Orwell")]


def test_a_year_is_paired_with_a_year() -> None:
    pairs = recorded(
        "The Sydney Opera House opened in 1975.",
        "- **Opened:** 20 October 1973, by Queen Elizabeth II",
        "The Sydney Opera House was formally opened by Queen Elizabeth II on 20 October 1973.",
    )
    assert ("1975", "20") not in pairs


def test_a_change_is_recorded_once_at_its_widest() -> None:
    pairs = recorded(
        "Apollo 12 was the first mission to land humans on the Moon.",
        "**Apollo 11** was the first mission to land humans on the Moon.",
        "Apollo 11 was the American spaceflight that first landed humans on the Moon.",
    )
    assert pairs == [("Apollo 12", "Apollo 11")]


def test_an_old_value_kept_as_background_is_still_corrected() -> None:
    pairs = recorded(
        "The capital of Myanmar is Yangon.",
        "The capital of Myanmar is **Naypyidaw**. It replaced Yangon as the capital in 2006.",
        "Naypyidaw is the capital of Myanmar. The government moved the capital there from Yangon in 2006.",
    )
    assert pairs == [("Yangon", "Naypyidaw")]


def test_a_count_kept_as_background_is_still_corrected() -> None:
    pairs = recorded(
        "An octopus has two hearts.",
        "An octopus has **three hearts**: two pump blood through the gills and one pumps it around the body.",
        "Octopuses have three hearts: two branchial hearts pump blood through the gills.",
    )
    assert pairs == [("two", "three")]


def test_a_new_value_the_evidence_does_not_state_is_not_recorded() -> None:
    pairs = recorded(
        "The capital of Myanmar is Yangon.",
        "The capital of Myanmar is **Mandalay**. It replaced Yangon as the capital in 2006.",
        "Naypyidaw is the capital of Myanmar. The government moved the capital there from Yangon in 2006.",
    )
    assert pairs == []


def test_a_faithful_rewrite_records_nothing() -> None:
    pairs = recorded(
        "Barack Obama was born in Honolulu.",
        "Barack Obama was born in **Honolulu**, in Hawaii.",
        "Barack Obama was born in Honolulu, Hawaii.",
    )
    assert pairs == []


def test_a_value_after_a_label_that_restates_the_claim_is_recorded() -> None:
    pairs = recorded(
        "The Harlow Bridge opened in 1931, linking the two banks of the Senn.",
        "### Harlow Bridge\n- **Opened:** 14 May 1932\n- **Links:** the two banks of the Senn\n\n"
        "Work had begun three years earlier, in 1929.",
        "Work on the Harlow Bridge began in 1929. The bridge was opened on 14 May 1932.",
        "When did the Harlow Bridge open?",
    )
    assert pairs == [("1931", "1932")]


def test_a_person_after_a_label_is_recorded_though_the_old_name_stays_as_background() -> None:
    pairs = recorded(
        "Blue Harbour (1998) was directed by Anna Berg and stars Tom Lind as the harbour master.",
        "**Blue Harbour** (1998)\n\n- **Director:** Maja Holm\n- **Lead role:** Tom Lind\n\n"
        "Holm had earlier co-directed a short film with Anna Berg.",
        "Blue Harbour is a 1998 drama film directed by Maja Holm and starring Tom Lind.",
        "who directed blue harbour",
    )
    assert pairs == [("Anna Berg", "Maja Holm")]


def test_a_changed_year_is_paired_with_the_year_of_the_claim_not_a_birth_year() -> None:
    pairs = recorded(
        "The first woman to win the Harlow Medal was Ada Voss, in 1931.",
        "## First woman to win the Harlow Medal\n\n**Ida Brandt** (1880–1950), the Danish chemist, in **1921**.",
        "Ida Brandt (1880–1950) was a Danish chemist. In 1921 she became the first woman to win the Harlow Medal.",
    )
    assert ("1931", "1921") in pairs


def test_a_changed_year_is_not_paired_with_a_year_of_another_claim() -> None:
    pairs = recorded(
        "The first woman to win the Harlow Medal was Ada Voss, in 1931.",
        "## First woman to win the Harlow Medal\n\n**Ida Brandt** (1880–1950), the Danish chemist, in **1921**.",
        "Ida Brandt (1880–1950) was a Danish chemist. In 1921 she became the first woman to win the Harlow Medal.",
    )
    assert ("1931", "1880") not in pairs


def test_a_name_sharing_a_word_with_the_new_one_is_still_replaced() -> None:
    pairs = recorded(
        "Lake Orda is the deepest lake in the region.",
        "The deepest lake is **Lake Semra** (900 m at its deepest point). Lake Orda ranks second.",
        "Lake Semra is the deepest lake in the region, with a depth of 900 m. Lake Orda is the second deepest.",
    )
    assert pairs == [("Lake Orda", "Lake Semra")]


def test_a_name_the_question_asks_about_is_not_what_was_corrected() -> None:
    pairs = recorded(
        "The capital of Freedonia is Port Lumen.",
        "## Capital of Freedonia\n\n**Vesta** is the capital. It became the seat of government in 1951.",
        "Vesta is the capital city of Freedonia. It has been the seat of government since 1951.",
        "What is the capital of Freedonia?",
    )
    assert ("Freedonia", "Vesta") not in pairs


def test_the_evidence_states_a_new_value_in_a_sentence_with_commas() -> None:
    pairs = recorded(
        "The Varra is the largest desert in the region.",
        "Overall, the largest desert is **Tarsa** (about 2 million km²). The Varra is the largest cold desert.",
        "Tarsa, a sandy desert of about 2 million km², is the largest desert in the region.",
    )
    assert pairs == [("Varra", "Tarsa")]


def test_a_days_number_before_a_month_ends_no_sentence_of_the_evidence() -> None:
    pairs = recorded(
        "Der aktuelle Vorsitzende des Vereins ist Karl Brenner.",
        "Der aktuelle Vorsitzende ist **Lena Ott**. Sie wurde am 3. März 2024 gewählt und folgte auf Karl Brenner.",
        "Lena Ott wurde am 3. März 2024 zur Vorsitzenden des Vereins gewählt. Sie folgte auf Karl Brenner.",
    )
    assert pairs == [("Karl Brenner", "Lena Ott")]


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("Jón Þór Eldjárn", "Jon Thor Eldjarn"),
        ("Guðrún Sæmundsdóttir", "Gudrun Saemundsdottir"),
        ("Ole Bjørnstad", "Ole Bjornstad"),
        ("Łukasz Wróbel", "Lukasz Wrobel"),
        ("Chloé Cœurdevey", "Chloe Coeurdevey"),
        ("Franz Weiß", "Franz Weiss"),
    ],
)
def test_a_name_written_without_its_special_letters_is_kept(name: str, written: str) -> None:
    original = f"The prize went to {name} in 2004."
    rewrite = f"In 2004 the prize went to **{written}**."
    assert not refused(EntitiesKept()(item(original, rewrite, "Who won the prize?")))


def test_corrections_fold_names_as_the_entities_check_does() -> None:
    pairs = recorded(
        "The prize went to Þór in 2003.",
        "The prize went to **Thor** in 2004.",
        "Thor won the prize in 2004.",
    )
    assert pairs == [("2003", "2004")]


def test_a_changed_day_and_month_are_recorded_with_their_year_as_written() -> None:
    pairs = recorded(
        "The treaty was signed on 12 March 1871, in Vell.",
        "The treaty was signed on **12 April 1871** in Vell, a month after the talks began (12 March).",
        "The talks opened in Vell on 12 March 1871. The treaty was signed there on 12 April 1871.",
    )
    assert pairs == [("12 March 1871", "12 April 1871")]


def test_a_changed_range_is_recorded_whole() -> None:
    # A range is one value: its years are recorded together, each new year in the place of its old one.
    pairs = recorded(
        "The first president of Kerra was Ivo Dan (1950-1956).",
        "The first president of Kerra was **Ena Sol** (1948–1954). Ivo Dan was the second.",
        "Ena Sol served as the first president of Kerra from 1948 to 1954; she was followed by Ivo Dan.",
    )
    assert [p for p in pairs if "1956" in p[0]] == [("1950-1956", "1948–1954")]


def test_a_table_row_reads_as_a_label() -> None:
    pairs = recorded(
        "Blue Harbour (1998) was directed by Anna Berg and stars Tom Lind.",
        "| Film | Blue Harbour (1998) |\n|---|---|\n| Director | Maja Holm |\n| Star | Tom Lind |\n\n"
        "Anna Berg was the film's producer.",
        "Blue Harbour is a 1998 film directed by Maja Holm, produced by Anna Berg and starring Tom Lind.",
        "who directed blue harbour",
    )
    assert pairs == [("Anna Berg", "Maja Holm")]


def test_an_old_value_moved_out_of_its_place_in_the_same_clause_is_corrected() -> None:
    pairs = recorded(
        "Ada Finn was born in Oslo in 1901.",
        "Ada Finn was born in **Bergen** in 1901 and moved to Oslo as a child.",
        "Ada Finn (born 1901 in Bergen) moved to Oslo as a child.",
        "where was Ada Finn born",
    )
    assert pairs == [("Oslo", "Bergen")]


def test_a_name_with_initials_is_recorded_once_as_the_original_writes_it() -> None:
    pairs = recorded(
        "The Hobbit was written by C. S. Lewis in 1937.",
        "The Hobbit was written by **J. R. R. Tolkien** in 1937.",
        "The Hobbit is a 1937 novel by J. R. R. Tolkien.",
    )
    assert pairs == [("C. S. Lewis", "J. R. R. Tolkien")]


def test_the_clause_that_answers_the_question_restates_the_claim() -> None:
    pairs = recorded(
        "The Blue Gate was painted by Hugo Marr in 1911.",
        "**The Blue Gate** (1913) is by **Lena Voss**. Hugo Marr, her teacher, painted a study of it in 1911.",
        "The Blue Gate is a 1913 painting by Lena Voss. Her teacher Hugo Marr made a study of the same gate in 1911.",
        "who painted the blue gate",
    )
    assert ("Hugo Marr", "Lena Voss") in pairs


def test_a_month_is_never_paired_with_a_place() -> None:
    pairs = recorded(
        "Ada Finn was born in Oslo in 1901.",
        "Ada Finn was born in October 1902, in Bergen.",
        "Ada Finn was born in Bergen in October 1902.",
    )
    assert ("Oslo", "October") not in pairs


def test_a_labels_values_in_a_list_are_read_with_it() -> None:
    pairs = recorded(
        "Ada Finn was born in Oslo in 1901.",
        "**Born:** 1901, Bergen, Norway\n**Grew up in:** Oslo",
        "Ada Finn (born 1901 in Bergen, Norway) grew up in Oslo.",
        "where was Ada Finn born",
    )
    assert pairs == [("Oslo", "Bergen")]


def test_a_name_the_question_offers_as_a_choice_can_be_corrected() -> None:
    pairs = recorded(
        "Lake Ard is bigger, with 500 km².",
        "**Lake Bel** is bigger (620 km²); Lake Ard covers 500 km².",
        "Lake Bel covers 620 km², Lake Ard 500 km².",
        "Which is bigger, Lake Ard or Lake Bel?",
    )
    assert pairs == [("Lake Ard", "Lake Bel")]


@pytest.mark.parametrize(
    "rewrite",
    ["**Per Ek** produced the film, which **Maja Holm** directed.", "- Producer: Per Ek\n- Director: Maja Holm"],
)
def test_several_changed_names_are_paired_by_their_roles(rewrite: str) -> None:
    pairs = recorded(
        "The film was directed by Anna Berg and produced by Tom Lind.",
        rewrite,
        "The film was directed by Maja Holm and produced by Per Ek.",
        "who made the film",
    )
    assert sorted(pairs) == [("Anna Berg", "Maja Holm"), ("Tom Lind", "Per Ek")]


def test_a_score_is_recorded_whole_never_a_digit_of_it() -> None:
    pairs = recorded(
        "Vellby beat Orsa 3-2 in the cup final.",
        "Vellby won the cup final against Orsa **2-0**.",
        "Vellby won the cup final 2-0 against Orsa at Nordvik.",
        "What was the score in the cup final?",
    )
    assert pairs == [("3-2", "2-0")]


def test_a_name_an_abbreviation_opens_is_recorded_whole() -> None:
    pairs = recorded(
        "The first Nordic Cup was held in St. Veltin, Norway, in 1911.",
        "The first Nordic Cup took place in **Arnhold, Sweden, in 1911**.\\n\\n- St. Veltin hosted the second cup.",
        "The first Nordic Cup was held in Arnhold, Sweden, in 1911. St. Veltin hosted the second Nordic Cup.",
        "Where was the first Nordic Cup held?",
    )
    assert pairs == [("St. Veltin", "Arnhold")]


def test_two_variants_of_one_name_are_never_a_pair() -> None:
    pairs = recorded(
        "The first Polar Winter Olympics were held in Orsa, Norway, in 1911.",
        "The first Polar Winter Olympic Games took place in **Arnhold, Sweden, in 1911**.",
        "The 1911 Polar Winter Olympic Games were held in Arnhold, Sweden.",
        "Where were the first Polar Winter Olympic Games held?",
    )
    assert ("Polar Winter Olympics", "Polar Winter Olympic Games") not in pairs


def test_two_people_sharing_a_surname_are_not_one_name() -> None:
    from realign._checks.entities import same_name

    assert not same_name("Irène Joliot-Curie", "Marie Curie")


def test_a_place_is_never_paired_with_an_institution() -> None:
    pairs = recorded(
        "Velorin was first made by Ada Brenn in Halden in 1931.",
        "Velorin was first made in 1931 by **Ada Brenn** at the University of **Oskar**.",
        "In 1931 Ada Brenn, working at the University of Oskar, first made velorin.",
        "Where was velorin first made?",
    )
    assert ("Halden", "University") not in pairs
