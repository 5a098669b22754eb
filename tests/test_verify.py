"""Citation support checks (extraction and summaries) on hand-made cases."""

from __future__ import annotations

from service.core.support import check_support, is_abstention

PANEL = (
    "“This resumed cooperation is said to have included the transfer of critical parts, with the most "
    "recent shipment associated with this relationship taking place in 2020,” the panel said."
)


def test_supported_paraphrase() -> None:
    assert check_support("The most recent shipment took place in 2020.", [PANEL]).supported


def test_wrong_number_is_rejected() -> None:
    check = check_support("The most recent shipment took place in 2019.", [PANEL])
    assert not check.supported and "2019" in check.reason


def test_unknown_name_is_rejected() -> None:
    check = check_support("Russia transferred critical parts in 2020.", [PANEL])
    assert not check.supported and "russia" in check.reason


def test_low_overlap_is_rejected() -> None:
    assert not check_support("Weather satellites orbit quickly above oceans.", [PANEL]).supported


def test_no_evidence() -> None:
    assert not check_support("Anything.", []).supported


def test_curly_quotes_and_possessives_match() -> None:
    ev = ["Iran’s Shahid Haj Ali Movahed Research Center received “support and assistance”."]
    assert check_support("Iran's Shahid Haj Ali Movahed Research Center received support.", ev).supported


def test_abstention_phrases() -> None:
    assert is_abstention("The passages do not say how much was paid.")
    assert not is_abstention("Iran denied the allegations.")


def test_the_question_lends_its_names_but_never_its_numbers() -> None:
    evidence = ["The missile was carried on an 11-axle launcher."]
    assert check_support(
        "The new ICBM was carried on an 11-axle launcher.", evidence, given="What vehicle carried the new ICBM?"
    ).supported
    assert not check_support("The new ICBM was carried on an 11-axle launcher.", evidence).supported
    said = check_support(
        "The Aurora carried 40 tonnes of copper.",
        ["The Aurora carried 30 tonnes of copper."],
        given="Did the Aurora carry 40 tonnes of copper?",
    )
    assert not said.supported and "40" in said.reason


def test_a_number_written_in_words_must_match_the_evidence() -> None:
    from service.core.support import check_support

    assert not check_support("Five ships sailed.", ["Four ships sailed."]).supported
    assert check_support("They saw four ships sail.", ["They saw 4 ships sail."]).supported
