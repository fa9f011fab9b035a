"""Config loading and its sync into the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from bot.config import ConfigError, load_config
from models.crud import indicators_by_key
from models.db import read_session, write_session
from models.tables import ConfigChange, Unit
from services.catalog import sync_config
from tests.conftest import EXAMPLE_CONFIG


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_config_is_valid() -> None:
    config = load_config(EXAMPLE_CONFIG, environ={})
    assert len(config.offices[0].units) == 6
    assert len(config.forms[0].indicators) == 8
    assert config.telegram.base_url == "https://api.telegram.org/bot"


def test_environment_overrides_token_and_database(tmp_path: Path) -> None:
    config = load_config(
        EXAMPLE_CONFIG,
        environ={"FIGBOT_TELEGRAM_TOKEN": "1:abc", "FIGBOT_DATABASE_URL": "sqlite:///x.db"},
    )
    assert config.telegram.token.get_secret_value() == "1:abc"
    assert "1:abc" not in repr(config)
    assert config.database.url == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('kind = "村"', 'kind = "镇"'), "offices.0.units.4.kind: must be 社区 or 村"),
        (('"inspections",\n', '"inspectionz",\n'), "unknown indicator 'inspectionz'"),
        (('deadline_time = "18:00"', 'deadline_time = "6pm"'), "forms.0.deadline_time"),
        (('timezone = "Asia/Shanghai"', 'timezone = "Mars/Base"'), "offices.0.timezone"),
        (('code = "huguang"', 'code = "jinhai"'), "duplicate key 'jinhai'"),
        (("[telegram]", '[telegram]\ntokn = "x"'), "telegram.tokn: Extra inputs are not permitted"),
        (('period = "month"', 'period = "fortnight"'), "forms.0.period"),
        (
            ('other_measure_words = ["件"]', 'other_measure_words = ["宗"]'),
            "indicators.1: other_measure_words: '宗' is already the measure_word",
        ),
        (
            ('other_measure_words = ["件"]', 'other_measure_words = ["十件"]'),
            "indicators.1.other_measure_words",
        ),
        (('other_measure_words = ["件"]', 'other_measure_words = [" "]'), "cannot be empty"),
    ],
)
def test_a_bad_config_names_the_key(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    assert change[0] in text
    path = _write(tmp_path, text.replace(change[0], change[1], 1))
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    assert message in str(error.value)


def test_missing_file_and_broken_toml_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", environ={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "[telegram\n"), environ={})


def test_sync_keeps_renames_and_deactivates_removed_units(engine: Engine) -> None:
    config = load_config(EXAMPLE_CONFIG, environ={})
    office = config.offices[0]
    renamed_units = [
        u.model_copy(update={"name": "金海新社区"}) if u.code == "jinhai" else u
        for u in office.units
        if u.code != "xixi"
    ]
    changed = config.model_copy(
        update={"offices": [office.model_copy(update={"units": renamed_units})]}
    )
    with write_session(engine) as session:
        sync_config(session, config=changed)
    with read_session(engine) as session:
        units = {u.code: u for u in session.exec(select(Unit)).all()}
        assert units["jinhai"].name == "金海新社区"
        assert units["xixi"].active is False  # kept, not deleted
        changes = {
            (c.entity_key, c.field, c.old, c.new) for c in session.exec(select(ConfigChange))
        }
    assert ("jinhai", "name", "金海社区", "金海新社区") in changes
    assert ("xixi", "active", "True", "False") in changes


def test_other_measure_words_reach_the_catalog_the_conversation_reads(engine: Engine) -> None:
    """ "调解5件": the measure words an indicator is also counted in go from the config into the
    indicator's row, where every figbot process reads them."""
    config = load_config(EXAMPLE_CONFIG, environ={})
    disputes = next(i for i in config.indicators if i.key == "disputes_mediated")
    assert disputes.other_measure_words == ["件"]
    with write_session(engine) as session:
        sync_config(session, config=config)
    with read_session(engine) as session:
        indicator = indicators_by_key(session, keys=["disputes_mediated", "legal_lectures"])
    assert indicator["disputes_mediated"].other_measure_words == ("件",)
    assert indicator["legal_lectures"].other_measure_words == ()
    changed = config.model_copy(
        update={
            "indicators": [
                i.model_copy(update={"other_measure_words": ["件", "起"]})
                if i.key == "disputes_mediated"
                else i
                for i in config.indicators
            ]
        }
    )
    with write_session(engine) as session:
        sync_config(session, config=changed)
    with read_session(engine) as session:
        indicator = indicators_by_key(session, keys=["disputes_mediated"])
        assert indicator["disputes_mediated"].other_measure_words == ("件", "起")
