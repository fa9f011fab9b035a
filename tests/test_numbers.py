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
        ("1,543", "次", 1543),
        ("１,５４３次", "次", 1543),
        ("十二", "宗", 12),
        ("十五宗", "宗", 15),
        ("两", "场", 2),
        ("两场", "场", 2),
        ("一百零五人次", "人次", 105),
        ("两千零三十", "份", 2030),
        ("〇", "次", 0),
        ("无", "次", 0),
        ("没有", "场", 0),
        ("零", "场", 0),
        ("12宗。", "宗", 12),
        ("3次", "次", 3),
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
        ("第3次", "次", RefusalReason.NOT_A_NUMBER),
        ("10月", "次", RefusalReason.NOT_A_NUMBER),
        ("13800138000", "次", RefusalReason.TOO_LARGE),
        ("3o", "宗", RefusalReason.NOT_A_NUMBER),
        ("两场", "宗", RefusalReason.WRONG_MEASURE_WORD),
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


@pytest.mark.parametrize(
    ("text", "figure"),
    [
        ("190多", 190),
        ("约50", 50),
        ("4千余", 4000),
        ("大约30次", 30),
        ("190宗左右", 190),
        ("近百", 100),
    ],
)
def test_approximate_answers_are_refused_with_the_stated_figure(text: str, figure: int) -> None:
    with pytest.raises(CountRefused) as refused:
        parse_count(text, "宗" if "宗" in text else "次")
    assert refused.value.reason is RefusalReason.APPROXIMATE
    assert refused.value.choices == (figure,)


def test_a_vague_answer_offers_no_figure() -> None:
    """ "十几" (ten-something) states no figure the bot could offer to record."""
    with pytest.raises(CountRefused) as refused:
        parse_count("十几宗", "宗")
    assert refused.value.reason is RefusalReason.APPROXIMATE
    assert refused.value.choices == ()


@pytest.mark.parametrize(
    ("text", "measure_word", "choices"),
    [
        ("七八次", "次", (7, 8)),
        ("两三场", "场", (2, 3)),
        ("三五宗", "宗", (3, 5)),
        ("一两", "宗", (1, 2)),
        ("三两个", "个", (2, 3)),
        ("三四十", "宗", (30, 40)),
        ("二三十次", "次", (20, 30)),
        ("一二十", "次", (10, 20)),
        ("十七八", "宗", (17, 18)),
        ("二十三四", "宗", (23, 24)),
        ("五六百", "份", (500, 600)),
        ("四五万", "份", (40_000, 50_000)),
        ("千八百", "份", (800, 1000)),
        ("7-8次", "次", (7, 8)),
        ("7、8次", "次", (7, 8)),
        ("十五到二十", "宗", (15, 20)),
        ("百十", "宗", ()),
        ("七八亿", "份", (700_000_000, 800_000_000)),
        ("七八十亿", "份", ()),  # bounds past the largest count: nothing to offer
    ],
)
def test_a_range_is_asked_back_with_its_bounds(
    text: str, measure_word: str, choices: tuple[int, ...]
) -> None:
    """Adjacent numerals say "X or Y": never the number cn2an's smart mode makes of them."""
    with pytest.raises(CountRefused) as refused:
        parse_count(text, measure_word)
    assert refused.value.reason is RefusalReason.RANGE
    assert refused.value.choices == choices


@pytest.mark.parametrize(
    "text", ["十来", "二十来宗", "百来", "千把", "几十", "二十几", "十几万", "数百"]
)
def test_a_vague_estimate_offers_nothing(text: str) -> None:
    with pytest.raises(CountRefused) as refused:
        parse_count(text, "宗")
    assert (refused.value.reason, refused.value.choices) == (RefusalReason.APPROXIMATE, ())


@pytest.mark.parametrize(
    "text", ["10²", "2⁵", "₁₂", "①②", "⑤宗", "½", "1½", "Ⅻ", "٣", "۱۵", "𝟏𝟓", "㊄", "⼗", "⑴"]
)
def test_characters_that_only_look_like_digits_are_refused(text: str) -> None:
    with pytest.raises(CountRefused) as refused:
        parse_count(text, "宗")
    assert refused.value.reason is RefusalReason.LOOKALIKE


def test_full_width_digits_are_still_read() -> None:
    assert parse_count("１５", "宗") == 15
    assert parse_count("１，５４３宗", "宗") == 1543
    assert parse_count("１２．５", "万元", 2) == 12.5


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("九" * 309, RefusalReason.NOT_A_NUMBER),
        ("九" * 20 + "宗", RefusalReason.NOT_A_NUMBER),
        ("一" + "亿" * 300, RefusalReason.NOT_A_NUMBER),
        ("9" * 5000, RefusalReason.TOO_LARGE),
        ("1" + "0" * 400, RefusalReason.TOO_LARGE),
        ("1" + "0" * 400 + "万", RefusalReason.NOT_A_NUMBER),
        ("9" * 400 + ".5", RefusalReason.TOO_LARGE),
        ("0." + "0" * 400 + "1", RefusalReason.DECIMAL),
        ("1e309", RefusalReason.NOT_A_NUMBER),
        ("inf", RefusalReason.NOT_A_NUMBER),
        ("-inf", RefusalReason.NOT_A_NUMBER),
        ("NaN", RefusalReason.NOT_A_NUMBER),
        ("约" + "9" * 400, RefusalReason.APPROXIMATE),
        ("9" * 15 + "-" + "9" * 16, RefusalReason.RANGE),
        ("9" * 400 + "-" + "9" * 401, RefusalReason.NOT_A_NUMBER),
    ],
)
def test_a_numeral_of_any_length_is_refused_without_an_exception(
    text: str, reason: RefusalReason
) -> None:
    with pytest.raises(CountRefused) as refused:
        parse_count(text, "宗")
    assert refused.value.reason is reason


def test_a_huge_estimate_or_range_offers_nothing_to_tap() -> None:
    for text in ("约" + "9" * 400, "9" * 15 + "-" + "9" * 16):
        with pytest.raises(CountRefused) as refused:
            parse_count(text, "宗")
        assert refused.value.choices == ()


def test_many_decimal_places_are_not_rounded_away() -> None:
    """A float would round 1.0000000000000000001 to 1; a figure is read exactly or refused."""
    with pytest.raises(CountRefused) as refused:
        parse_count("1.0000000000000000000000000000001万", "万元", 2)
    assert refused.value.reason is RefusalReason.DECIMAL
    with pytest.raises(CountRefused):
        parse_count("1.0000000000000000001", "宗")


def test_other_measure_words_of_the_indicator_are_accepted() -> None:
    assert parse_count("5件", "宗", also=("件",)) == 5
    assert parse_count("共五件", "宗", also=("件",)) == 5
    with pytest.raises(CountRefused) as refused:
        parse_count("5件", "宗")
    assert refused.value.reason is RefusalReason.WRONG_MEASURE_WORD
    with pytest.raises(CountRefused) as refused:
        parse_count("5场", "宗", also=("件",))
    assert refused.value.reason is RefusalReason.WRONG_MEASURE_WORD


@pytest.mark.parametrize(
    ("text", "expected"),
    [("共5宗", 5), ("合计5", 5), ("一共五宗", 5), ("总共5宗", 5), ("本月无", 0), ("本期没有", 0)],
)
def test_the_words_around_a_figure_are_read_past(text: str, expected: int) -> None:
    assert parse_count(text, "宗") == expected


def test_an_estimate_in_another_measure_word_is_not_offered() -> None:
    """ "约5场" at a question counted in 宗: tapping [记为5] would store 5 of the wrong thing."""
    with pytest.raises(CountRefused) as refused:
        parse_count("约5场", "宗")
    assert (refused.value.reason, refused.value.choices) == (RefusalReason.WRONG_MEASURE_WORD, ())
