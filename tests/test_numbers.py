import pytest

from domain.numbers import MAX_COUNT, CountRefused, RefusalReason, parse_count


@pytest.mark.parametrize(
    ("text", "measure_word", "expected"),
    [
        ("15", "宗", 15),
        ("１５", "宗", 15),
        ("15宗", "宗", 15),
        ("１５宗", "宗", 15),
        (" 15 宗 ", "宗", 15),
        ("0", "场", 0),
        ("０", "场", 0),
        ("718人次", "人次", 718),
        ("+3", "次", 3),
        ("3.0", "次", 3),
        ("007", "份", 7),
        (str(MAX_COUNT), "份", MAX_COUNT),
    ],
)
def test_accepts(text: str, measure_word: str, expected: int) -> None:
    assert parse_count(text, measure_word) == expected


@pytest.mark.parametrize(
    ("text", "measure_word", "reason"),
    [
        ("", "宗", RefusalReason.EMPTY),
        ("   ", "宗", RefusalReason.EMPTY),
        ("abc", "宗", RefusalReason.NOT_A_NUMBER),
        ("l5", "宗", RefusalReason.NOT_A_NUMBER),
        ("15x", "宗", RefusalReason.NOT_A_NUMBER),
        ("十五", "宗", RefusalReason.NOT_A_NUMBER),
        ("-3", "宗", RefusalReason.NEGATIVE),
        ("－３", "宗", RefusalReason.NEGATIVE),
        ("2.5", "宗", RefusalReason.DECIMAL),
        ("15场", "宗", RefusalReason.WRONG_MEASURE_WORD),
        (str(MAX_COUNT + 1), "宗", RefusalReason.TOO_LARGE),
        ("1 5", "宗", RefusalReason.NOT_A_NUMBER),
    ],
)
def test_refuses_with_a_reason(text: str, measure_word: str, reason: RefusalReason) -> None:
    with pytest.raises(CountRefused) as refused:
        parse_count(text, measure_word)
    assert refused.value.reason is reason
