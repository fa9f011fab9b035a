"""PNG charts of a period's figures, for coordinators who ask for a chart in chat.

Unit names and labels are Chinese, and matplotlib's bundled DejaVu Sans has no CJK glyphs: it
would draw empty boxes (and warn "Glyph ... missing from font(s)"). So every text element is
drawn with one explicitly chosen CJK font file, found once per process by ``find_cjk_font``;
when none is installed we fail loudly with ``CJKFontMissing`` saying how to install one, rather
than send a chart nobody can read.

Missing is not zero: a unit that did not report gets no bar (or a gap in a line) and a
"未报" label, never a zero-height bar.

These are plain synchronous functions that build a ``Figure`` + ``FigureCanvasAgg`` per call and
never touch pyplot's global state, so callers can run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Iterable, Sequence
from io import BytesIO
from pathlib import Path

from fontTools.ttLib import TTFont
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

logger = logging.getLogger(__name__)

FONT_ENV_VAR = "FIGBOT_CJK_FONT"
PROBE_TEXT = "社区调解纠纷法治讲座村"
DPI = 150
MAX_VERTICAL_UNITS = 15  # beyond this, horizontal bars keep unit names readable

_FONT_SUFFIXES = (".ttf", ".ttc", ".otf", ".otc")
_FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
# Lower index = preferred. Matched against the face-0 family name, then the file name.
_PREFERRED_NAMES = (
    "noto sans cjk sc",
    "noto sans sc",
    "source han sans sc",
    "source han sans cn",
    "wenquanyi micro hei",
    "wenquanyi zen hei",
    "droid sans fallback",
    "ar pl uming",
    "ar pl ukai",
    "noto sans cjk",
    "source han sans",
    "noto serif cjk",
)
_PREFERRED_FILES = (
    "notosanscjksc",
    "notosanssc",
    "sourcehansanssc",
    "sourcehansanscn",
    "wqy-microhei",
    "wqy-zenhei",
    "droidsansfallback",
    "uming",
    "ukai",
    "notosanscjk",
    "sourcehansans",
    "notoserifcjk",
)

_BAR_COLOR = "#3b7dd8"
_MISSING_COLOR = "#888888"


class CJKFontMissing(RuntimeError):
    """No font with Chinese glyphs is available, so charts would show empty boxes."""

    def __init__(self, detail: str = "no font with Chinese glyphs was found") -> None:
        super().__init__(
            f"Cannot draw charts with Chinese labels: {detail}. Install a CJK font, e.g. "
            "`apt-get install fonts-noto-cjk` (or `fonts-wqy-microhei`; "
            "scripts/ensure-cjk-font does this), or set "
            f"{FONT_ENV_VAR}=/path/to/font.ttf|.ttc|.otf."
        )


# --- font discovery ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _face0_info(path: Path) -> tuple[str, frozenset[int]]:
    """(family name, covered code points) of face 0 — the face matplotlib uses for a file."""
    with TTFont(str(path), fontNumber=0, lazy=True) as font:
        cmap = font.getBestCmap() or {}
        family = ""
        if "name" in font:
            family = font["name"].getBestFamilyName() or ""
        return family, frozenset(cmap)


def font_covers(path: Path, text: str) -> bool:
    """True if face 0 of the font file has a glyph for every non-space character of text."""
    try:
        _, codepoints = _face0_info(Path(path))
    except Exception:  # unreadable or not a font: it covers nothing
        logger.debug("cannot read font %s", path, exc_info=True)
        return False
    return all(ord(ch) in codepoints for ch in text if not ch.isspace())


def _rank(path: Path) -> int:
    """Preference of a font: index into the well-known names, or after all of them."""
    try:
        family = _face0_info(path)[0].lower()
    except Exception:
        family = ""
    for i, name in enumerate(_PREFERRED_NAMES):
        if family.startswith(name):
            return i
    stem = path.name.lower()
    for i, name in enumerate(_PREFERRED_FILES):
        if stem.startswith(name):
            return i
    return len(_PREFERRED_NAMES)


def _candidate_fonts() -> list[Path]:
    """All font files matplotlib and the usual font directories know about, deduplicated."""
    found: dict[str, Path] = {}

    def add(paths: Iterable[str | os.PathLike[str]]) -> None:
        for p in paths:
            path = Path(p)
            if path.suffix.lower() in _FONT_SUFFIXES:
                found.setdefault(os.path.realpath(path), path)

    add(entry.fname for entry in font_manager.fontManager.ttflist)
    try:
        add(font_manager.findSystemFonts())
    except Exception:  # fc-list quirks must not hide the directory scan below
        logger.debug("findSystemFonts failed", exc_info=True)
    for directory in _FONT_DIRS:
        if directory.is_dir():
            add(p for p in directory.rglob("*") if p.is_file())
    return [p for p in found.values() if p.is_file()]


@functools.cache
def find_cjk_font() -> Path:
    """The font file used for every chart text; cached, since scanning fonts is slow.

    ``FIGBOT_CJK_FONT`` wins if set; otherwise the best-known installed font that actually has
    glyphs for typical unit names. Raises CJKFontMissing when there is none.
    """
    override = os.environ.get(FONT_ENV_VAR, "").strip()
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise CJKFontMissing(f"{FONT_ENV_VAR}={override} does not exist")
        if not font_covers(path, PROBE_TEXT):
            raise CJKFontMissing(f"{FONT_ENV_VAR}={override} has no glyphs for {PROBE_TEXT!r}")
        logger.info("chart font from %s: %s", FONT_ENV_VAR, path)
        return path

    candidates = sorted(_candidate_fonts(), key=lambda p: (_rank(p), str(p)))
    for path in candidates:
        if font_covers(path, PROBE_TEXT):
            logger.info("chart font: %s (%s)", path, _face0_info(path)[0])
            return path
    raise CJKFontMissing(f"none of {len(candidates)} installed fonts has Chinese glyphs")


def _font(size: float | None = None) -> FontProperties:
    return FontProperties(fname=str(find_cjk_font()), size=size)


def chart_font_name() -> str:
    """Family name of the chart font, for logs and tests."""
    return _font().get_name()


# --- rendering ---------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _apply_font(fig: Figure) -> None:
    """Give every text in the figure the CJK font, keeping its size.

    Tick labels of numeric axes are created lazily; touching the tick lists creates the first
    tick now, and ticks added at draw time copy their label font from it.
    """
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            axis.get_major_ticks()
            axis.get_minor_ticks()
    path = str(find_cjk_font())
    for text in fig.findobj(Text):
        assert isinstance(text, Text)
        if text.get_fontproperties().get_file() != path:
            text.set_fontproperties(FontProperties(fname=path, size=text.get_fontsize()))


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="tight")
    FigureCanvasAgg(fig)
    return fig


def _style_value_axis(ax: Axes, values: Sequence[float], *, horizontal: bool) -> None:
    axis = ax.xaxis if horizontal else ax.yaxis
    if all(float(v).is_integer() for v in values):
        axis.set_major_locator(MaxNLocator(integer=True))
    ax.ticklabel_format(axis="x" if horizontal else "y", style="plain", useOffset=False)
    ax.grid(True, axis="x" if horizontal else "y", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _set_upright_ylabel(ax: Axes, measure_word: str) -> None:
    """Short Chinese measure words (宗, 人次) read upright, not turned on their side."""
    rotation = 0 if len(measure_word) <= 4 else 90
    ax.set_ylabel(measure_word, fontproperties=_font(), rotation=rotation, labelpad=10, va="center")


def _value_limits(values: Sequence[float]) -> tuple[float, float]:
    """Axis limits from 0 with headroom for the value labels."""
    top = max([0.0, *values])
    bottom = min([0.0, *values])
    if top == bottom == 0:
        return 0.0, 1.0
    return bottom * 1.15, top * 1.15 if top > 0 else 0.0


def _check_lengths(names: Sequence[str], values: Sequence[float | None], what: str) -> None:
    if len(names) != len(values):
        raise ValueError(f"{len(names)} {what} but {len(values)} values")


def build_bar_figure(
    *,
    title: str,
    labels: list[str],
    values: list[float | None],
    measure_word: str,
    missing_label: str = "未报",
) -> Figure:
    """Bars by unit: vertical for a few units, horizontal (top to bottom) for many.

    A None value gets no bar, only ``missing_label`` at the baseline: missing is not zero.
    """
    _check_lengths(labels, values, "labels")
    n = len(labels)
    horizontal = n > MAX_VERTICAL_UNITS
    longest = max((len(s) for s in labels), default=0)
    if horizontal:
        fig = _new_figure(8.0, max(4.0, 0.3 * n + 1.5))
    else:
        fig = _new_figure(max(6.0, 0.7 * n + 2.0), 4.0 + 0.12 * longest)
    ax = fig.add_subplot()
    font = _font()

    present = [(i, float(v)) for i, v in enumerate(values) if v is not None]
    positions = [i for i, _ in present]
    heights = [v for _, v in present]
    bar = ax.barh if horizontal else ax.bar
    container = bar(positions, heights, 0.65, color=_BAR_COLOR)
    ax.bar_label(container, labels=[_fmt(v) for v in heights], padding=3, fontproperties=font)
    for i, v in enumerate(values):
        if v is None:
            ax.annotate(
                missing_label,
                xy=(0, i) if horizontal else (i, 0),
                xytext=(3, 0) if horizontal else (0, 3),
                textcoords="offset points",
                ha="left" if horizontal else "center",
                va="center" if horizontal else "bottom",
                color=_MISSING_COLOR,
                fontproperties=font,
            )

    ticks = list(range(n))
    low, high = _value_limits(heights)
    if horizontal:
        ax.set_yticks(ticks, labels=labels, fontproperties=font)
        ax.set_ylim(n - 0.5, -0.5)  # first unit on top, as in the list
        ax.set_xlim(low, high)
        ax.set_xlabel(measure_word, fontproperties=font)
    else:
        ax.set_xticks(
            ticks,
            labels=labels,
            fontproperties=font,
            rotation=45 if n > 5 or longest > 6 else 0,
            ha="right" if n > 5 or longest > 6 else "center",
            rotation_mode="anchor",
        )
        ax.set_xlim(-0.5, max(n, 1) - 0.5)
        ax.set_ylim(low, high)
        _set_upright_ylabel(ax, measure_word)
    _style_value_axis(ax, heights, horizontal=horizontal)
    ax.set_title(title, fontproperties=_font(13))
    if not n:
        ax.text(0.5, 0.5, "暂无数据", transform=ax.transAxes, ha="center", va="center")
    _apply_font(fig)
    return fig


def build_trend_figure(
    *,
    title: str,
    periods: list[str],
    values: list[float | None],
    measure_word: str,
) -> Figure:
    """A line with markers over periods (e.g. "2026年10月"); None breaks the line."""
    _check_lengths(periods, values, "periods")
    n = len(periods)
    longest = max((len(s) for s in periods), default=0)
    rotate = n > 6
    fig = _new_figure(min(14.0, max(6.0, 0.6 * n + 2.0)), 4.0 + (0.1 * longest if rotate else 0))
    ax = fig.add_subplot()
    font = _font()

    ys = [math.nan if v is None else float(v) for v in values]
    ax.plot(range(n), ys, marker="o", color=_BAR_COLOR, linewidth=2, markersize=5)
    present = [float(v) for v in values if v is not None]
    for i, v in enumerate(values):
        if v is not None:
            ax.annotate(
                _fmt(v),
                xy=(i, v),
                xytext=(0, 6),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontproperties=font,
            )

    ax.set_xticks(
        list(range(n)),
        labels=periods,
        fontproperties=font,
        rotation=45 if rotate else 0,
        ha="right" if rotate else "center",
        rotation_mode="anchor",
    )
    ax.set_xlim(-0.5, max(n, 1) - 0.5)
    ax.set_ylim(*_value_limits(present))
    _set_upright_ylabel(ax, measure_word)
    _style_value_axis(ax, present, horizontal=False)
    ax.grid(True, axis="x", color="#f0f0f0", linewidth=0.8)
    ax.set_title(title, fontproperties=_font(13))
    if not present:
        ax.text(0.5, 0.5, "暂无数据", transform=ax.transAxes, ha="center", va="center")
    _apply_font(fig)
    return fig


def figure_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes with the Agg canvas it was built on."""
    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.2)
    return buf.getvalue()


def bar_chart_png(
    *,
    title: str,
    labels: list[str],
    values: list[float | None],
    measure_word: str,
    missing_label: str = "未报",
) -> bytes:
    """PNG of ``build_bar_figure``; synchronous, so callers use ``asyncio.to_thread``."""
    return figure_png(
        build_bar_figure(
            title=title,
            labels=labels,
            values=values,
            measure_word=measure_word,
            missing_label=missing_label,
        )
    )


def trend_chart_png(
    *,
    title: str,
    periods: list[str],
    values: list[float | None],
    measure_word: str,
) -> bytes:
    """PNG of ``build_trend_figure``; synchronous, so callers use ``asyncio.to_thread``."""
    return figure_png(
        build_trend_figure(title=title, periods=periods, values=values, measure_word=measure_word)
    )
