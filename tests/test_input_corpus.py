"""The corpus in tests/data/inputs.tsv: everyday inputs and the reading figbot must give."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from domain.figures import Reading, Vocabulary, read_answer, read_figures
from domain.numbers import CountRefused, Number, RefusalReason, parse_count

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).parent / "data" / "inputs.tsv"


def _cases() -> list[tuple[str, str, str]]:
    cases = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        mode, text, expected = line.split("\t")
        text = text.replace("\\n", "\n").replace("\\x00", "\x00")
        cases.append((mode, text, expected))
    return cases


CASES = _cases()


def _vocabulary() -> list[Vocabulary]:
    config = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    return [
        Vocabulary(
            i["key"],
            i["label"],
            i["measure_word"],
            tuple(i.get("aliases", [])),
            other_measure_words=tuple(i.get("other_measure_words", [])),
        )
        for i in config["indicators"]
    ]


VOCABULARY = _vocabulary()
_OFFERED = {RefusalReason.APPROXIMATE: "approx", RefusalReason.RANGE: "range"}


def _shown(read: Callable[[], Number]) -> str:
    """A figure; "refused:<reason>"; or "approx:"/"range:" with the figures offered as one-tap
    choices ("range:7,8"; "-": none to offer, as for "十几")."""
    try:
        return str(read())
    except CountRefused as refused:
        if refused.reason in _OFFERED:
            offered = ",".join(str(choice) for choice in refused.choices) or "-"
            return f"{_OFFERED[refused.reason]}:{offered}"
        return f"refused:{refused.reason}"


def _count_reading(text: str, mode: str) -> str:
    _, words, *places = mode.split(":")
    measure_word, *others = words.split("+")
    decimals = int(places[0]) if places else 0
    return _shown(lambda: parse_count(text, measure_word, decimals, also=others))


def _answer_reading(text: str, mode: str) -> str:
    """The answer to one indicator's question, as the reporter's conversation reads it."""
    entry = next(v for v in VOCABULARY if v.key == mode.split(":")[1])
    reading = read_figures(text, VOCABULARY)
    if reading.named_any and not reading.only_about(entry.key):
        return "readback"  # names other indicators: read back for confirmation
    return _shown(lambda: read_answer(text, entry, reading))


def _figures_reading(reading: Reading) -> set[str]:
    if not reading.named_any:  # no indicator named: a plain answer to the current question
        return {"none"}
    found = {f"{f.key}={f.value}" for f in reading.figures}
    for problem in reading.problems:
        if problem.kind == "unknown":
            found.add(f"unknown:{problem.text}")
        elif problem.kind == "refused":
            found.add(f"refused:{problem.key}:{problem.reason}")
        else:
            found.add(f"{problem.kind}:{problem.key}")
    if reading.correction:
        found.add("correction")
    if reading.reason:
        found.add(f"reason:{reading.reason}")
    return found


def test_the_corpus_is_big_enough_and_covers_every_mode() -> None:
    assert len(CASES) >= 400
    assert {mode.split(":")[0] for mode, _, _ in CASES} == {"count", "answer", "figures"}


@pytest.mark.parametrize(
    ("mode", "text", "expected"), CASES, ids=[c[1] or "<empty>" for c in CASES]
)
def test_reading(mode: str, text: str, expected: str) -> None:
    if mode.startswith("count:"):
        assert _count_reading(text, mode) == expected
    elif mode.startswith("answer:"):
        assert _answer_reading(text, mode) == expected
    else:
        assert _figures_reading(read_figures(text, VOCABULARY)) == set(expected.split(" "))
