"""Translations through gettext catalogs (Babel), Simplified Chinese by default.

Message ids are English; ``bot/locale/<lang>/LC_MESSAGES/figbot.po`` holds the translations.
The .po files are compiled in memory at first use, so a checkout needs no build step and an
edited catalog is picked up on restart.
"""

from __future__ import annotations

import gettext
import html
import io
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "figbot"
DEFAULT_LANGUAGE = "zh-Hans"
LANGUAGES = ("zh-Hans", "en")
_CATALOG_DIR = {"zh-Hans": "zh_Hans"}


@cache
def translations(language: str) -> gettext.NullTranslations:
    folder = _CATALOG_DIR.get(language)
    if folder is None:  # English: the message ids themselves
        return gettext.NullTranslations()
    po_path = LOCALE_DIR / folder / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=folder)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def translator(language: str) -> Any:
    """The ``gettext`` function for ``language`` (bind it to ``_`` so Babel extracts the ids)."""
    return translations(language).gettext


class Html(str):
    """Text that is already HTML (the result of :func:`fmt`): inserted as is, not escaped again."""

    __slots__ = ()


def fmt(template: str, /, **values: Any) -> Html:
    """Fill an HTML message template; every value is HTML-escaped — unless it is itself the
    result of ``fmt`` — so user or config text can never break or inject markup."""
    return Html(
        template.format(
            **{
                name: value if isinstance(value, Html) else html.escape(str(value))
                for name, value in values.items()
            }
        )
    )
