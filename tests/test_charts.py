"""Charts must show Chinese unit names, never empty boxes: every text uses the CJK font and
matplotlib never warns about a missing glyph. Missing is not zero: no bar, a "未报" label."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import matplotlib.image
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.text import Text

from reports.charts import (
    PROBE_TEXT,
    CJKFontMissing,
    bar_chart_png,
    build_bar_figure,
    build_trend_figure,
    chart_font_name,
    find_cjk_font,
    font_covers,
    trend_chart_png,
)

FEW_UNITS = ["金海社区", "东岭村", "西岭村", "南湖社区", "调解纠纷中心"]
MANY_UNITS = [f"第{i}社区" for i in range(1, 41)] + ["东岭村"]
PERIODS = [f"2026年{m}月" for m in range(1, 13)]


@pytest.fixture(autouse=True)
def _fresh_font_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test sees the real font lookup, not an override left by another test."""
    monkeypatch.delenv("FIGBOT_CJK_FONT", raising=False)
    find_cjk_font.cache_clear()
    yield
    find_cjk_font.cache_clear()


def _texts(fig: Figure) -> list[Text]:
    fig.canvas.draw()  # ticks of numeric axes are created at draw time
    found = [t for t in fig.findobj(Text) if isinstance(t, Text) and t.get_text().strip()]
    assert found
    return found


def _assert_all_cjk(fig: Figure) -> None:
    font = str(find_cjk_font())
    wrong = [
        (t.get_text(), t.get_fontproperties().get_file())
        for t in _texts(fig)
        if t.get_fontproperties().get_file() != font
    ]
    assert not wrong, f"texts not in {font}: {wrong}"


def _assert_png(data: bytes) -> None:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 5_000
    pixels = matplotlib.image.imread(BytesIO(data), format="png")
    assert pixels.shape[0] > 300 and pixels.shape[1] > 300


def _assert_no_glyph_warnings(caught: list[warnings.WarningMessage]) -> None:
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "missing from font" in m], messages
    assert not messages, messages


def test_found_font_covers_unit_names() -> None:
    path = find_cjk_font()
    assert path.is_file()
    for text in (PROBE_TEXT, "金海社区", "东岭村", "调解纠纷", "人次", "2026年10月 未报"):
        assert font_covers(path, text), text
    assert chart_font_name()
    assert find_cjk_font() is path  # cached


def test_default_font_would_warn_so_the_checks_mean_something() -> None:
    fig = Figure()
    canvas = FigureCanvasAgg(fig)
    fig.text(0.5, 0.5, "金海社区")  # matplotlib's default DejaVu Sans, no CJK glyphs
    with pytest.warns(UserWarning, match="missing from font"):
        canvas.draw()


def test_font_covers_rejects_latin_only_font() -> None:
    import matplotlib

    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    assert font_covers(dejavu, "abc 123")
    assert not font_covers(dejavu, "金海社区")


@pytest.mark.parametrize("labels", [FEW_UNITS, MANY_UNITS], ids=["vertical", "horizontal"])
def test_bar_chart_png_renders_chinese_without_warnings(labels: list[str]) -> None:
    values: list[float | None] = [float(i * 3) for i in range(len(labels))]
    values[1] = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = bar_chart_png(
            title="2026年10月 调解纠纷", labels=labels, values=values, measure_word="宗"
        )
    _assert_no_glyph_warnings(caught)
    _assert_png(data)


def test_trend_chart_png_renders_chinese_without_warnings() -> None:
    values: list[float | None] = [3, 5, None, 8, 2, 2, None, None, 9, 10, 4.5, 6]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = trend_chart_png(
            title="金海社区 法治讲座", periods=PERIODS, values=values, measure_word="人次"
        )
    _assert_no_glyph_warnings(caught)
    _assert_png(data)


@pytest.mark.parametrize("labels", [FEW_UNITS, MANY_UNITS], ids=["vertical", "horizontal"])
def test_every_bar_chart_text_uses_cjk_font(labels: list[str]) -> None:
    fig = build_bar_figure(
        title="2026年10月 调解纠纷",
        labels=labels,
        values=[float(i) for i in range(len(labels))],
        measure_word="宗",
    )
    _assert_all_cjk(fig)


def test_every_trend_chart_text_uses_cjk_font() -> None:
    fig = build_trend_figure(
        title="东岭村 调解纠纷",
        periods=PERIODS,
        values=[float(i) * 1000 for i in range(len(PERIODS))],
        measure_word="宗",
    )
    _assert_all_cjk(fig)


@pytest.mark.parametrize("labels", [FEW_UNITS, MANY_UNITS], ids=["vertical", "horizontal"])
def test_missing_value_is_a_label_not_a_zero_bar(labels: list[str]) -> None:
    values: list[float | None] = [float(i + 1) for i in range(len(labels))]
    values[0] = None
    values[2] = None
    values[3] = 0  # a real zero keeps its (zero-height) bar
    fig = build_bar_figure(
        title="2026年10月", labels=labels, values=values, measure_word="宗", missing_label="未报"
    )
    texts = [t.get_text() for t in _texts(fig)]
    assert texts.count("未报") == 2
    (ax,) = fig.axes
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert sum(len(c.patches) for c in bars) == len(labels) - 2
    assert "0" in texts


def test_all_missing_and_empty_inputs_still_render() -> None:
    _assert_png(bar_chart_png(title="无", labels=["东岭村"], values=[None], measure_word="宗"))
    _assert_png(bar_chart_png(title="无", labels=[], values=[], measure_word="宗"))
    _assert_png(
        trend_chart_png(title="无", periods=PERIODS[:3], values=[None] * 3, measure_word="宗")
    )


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError):
        build_bar_figure(title="x", labels=["东岭村"], values=[1, 2], measure_word="宗")


def test_env_var_to_missing_file_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FIGBOT_CJK_FONT", str(tmp_path / "nope.ttf"))
    find_cjk_font.cache_clear()
    with pytest.raises(CJKFontMissing, match="apt-get install fonts-noto-cjk"):
        find_cjk_font()


def test_env_var_to_font_without_chinese_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib

    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    monkeypatch.setenv("FIGBOT_CJK_FONT", str(dejavu))
    find_cjk_font.cache_clear()
    with pytest.raises(CJKFontMissing, match="FIGBOT_CJK_FONT"):
        find_cjk_font()


def test_env_var_override_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    real = find_cjk_font()
    find_cjk_font.cache_clear()
    monkeypatch.setenv("FIGBOT_CJK_FONT", str(real))
    assert find_cjk_font() == real
