"""Every user-facing message has a Chinese translation with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir

from bot.i18n import translator

ROOT = Path(__file__).resolve().parents[1]
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _message_ids() -> set[str]:
    ids: set[str] = set()
    for folder in ("bot", "handlers", "services"):
        for _filename, _lineno, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")]
        ):
            ids.add(message if isinstance(message, str) else message[0])
    return ids


def test_every_message_is_translated_to_chinese() -> None:
    _ = translator("zh-Hans")
    ids = _message_ids()
    assert len(ids) > 50
    untranslated = [m for m in ids if m != "—" and _(m) == m]
    assert untranslated == []


def test_translations_keep_the_placeholders() -> None:
    _ = translator("zh-Hans")
    for message in _message_ids():
        assert set(_PLACEHOLDER.findall(_(message))) == set(_PLACEHOLDER.findall(message)), message


def test_english_is_the_message_id() -> None:
    assert translator("en")("Start reporting") == "Start reporting"
    assert translator("zh-Hans")("Start reporting") == "开始填报"
