"""The corpus in tests/data/inputs.tsv: everyday inputs and the reading figbot must give."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from domain.figures import Reading, Vocabulary, read_figures
from domain.numbers import CountRefused, parse_count

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
        Vocabulary(i["key"], i["label"], i["measure_word"], tuple(i.get("aliases", [])))
        for i in config["indicators"]
    ]


VOCABULARY = _vocabulary()


def _count_reading(text: str, mode: str) -> str:
    _, measure_word, *places = mode.split(":")
    try:
        return str(parse_count(text, measure_word, int(places[0]) if places else 0))
    except CountRefused as refused:
        if refused.reason == "approximate":  # "-": vague, no figure to offer ("十几")
            return f"approx:{'-' if refused.suggestion is None else refused.suggestion}"
        return f"refused:{refused.reason}"


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


def test_the_corpus_is_big_enough_and_covers_both_modes() -> None:
    assert len(CASES) >= 200
    assert {mode.split(":")[0] for mode, _, _ in CASES} == {"count", "figures"}


@pytest.mark.parametrize(
    ("mode", "text", "expected"), CASES, ids=[c[1] or "<empty>" for c in CASES]
)
def test_reading(mode: str, text: str, expected: str) -> None:
    if mode.startswith("count:"):
        assert _count_reading(text, mode) == expected
    else:
        assert _figures_reading(read_figures(text, VOCABULARY)) == set(expected.split(" "))
