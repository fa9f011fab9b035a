"""Keeping offices, units, indicators and forms in the database in step with the config.

Codes and keys are the stable identity; a changed name is recorded in ``config_change`` and
something that left the config is deactivated, never deleted, so old data keeps its meaning.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, select

from bot.config import FigbotConfig
from models.db import make_engine, upgrade, write_session
from models.tables import ConfigChange, Form, Indicator, Office, Unit

logger = logging.getLogger(__name__)


def _apply(session: Session, row: SQLModel, entity: str, key: str, fields: dict[str, Any]) -> None:
    """Set ``fields`` on ``row``, each change of a row already stored recorded as a
    ``ConfigChange``: besides the history, that is what tells every running figbot its kept
    copy of the indicator catalog is out of date (``models.crud.CATALOG_VERSION``)."""
    for field, new in fields.items():
        old = getattr(row, field)
        if old != new:
            if getattr(row, "id", None) is not None:
                session.add(
                    ConfigChange(
                        entity=entity, entity_key=key, field=field, old=str(old), new=str(new)
                    )
                )
                logger.info("config: %s %s %s %r -> %r", entity, key, field, old, new)
            setattr(row, field, new)
    session.add(row)


def _deactivate_missing(
    session: Session, rows: list[Any], keep: set[str], entity: str, attr: str
) -> None:
    for row in rows:
        code = getattr(row, attr)
        if code not in keep and row.active:
            _apply(session, row, entity, code, {"active": False})


def sync_config(session: Session, *, config: FigbotConfig) -> None:
    """Make the database's catalog match ``config`` (idempotent)."""
    offices = {o.code: o for o in session.exec(select(Office)).all()}
    units = {u.code: u for u in session.exec(select(Unit)).all()}
    for office_cfg in config.offices:
        office = offices.get(office_cfg.code) or Office(code=office_cfg.code, name=office_cfg.name)
        _apply(
            session,
            office,
            "office",
            office_cfg.code,
            {"name": office_cfg.name, "timezone": office_cfg.timezone, "active": True},
        )
        session.flush()
        offices[office.code] = office
        for unit_cfg in office_cfg.units:
            assert office.id is not None
            unit = units.get(unit_cfg.code) or Unit(
                code=unit_cfg.code, name=unit_cfg.name, office_id=office.id
            )
            _apply(
                session,
                unit,
                "unit",
                unit_cfg.code,
                {
                    "name": unit_cfg.name,
                    "kind": unit_cfg.kind,
                    "office_id": office.id,
                    "active": True,
                },
            )
            units[unit.code] = unit
    _deactivate_missing(
        session, list(offices.values()), {o.code for o in config.offices}, "office", "code"
    )
    _deactivate_missing(
        session,
        list(units.values()),
        {u.code for o in config.offices for u in o.units},
        "unit",
        "code",
    )

    indicators = {i.key: i for i in session.exec(select(Indicator)).all()}
    for ind_cfg in config.indicators:
        indicator = indicators.get(ind_cfg.key) or Indicator(
            key=ind_cfg.key, label=ind_cfg.label, measure_word=ind_cfg.measure_word
        )
        _apply(
            session,
            indicator,
            "indicator",
            ind_cfg.key,
            {
                "label": ind_cfg.label,
                "measure_word": ind_cfg.measure_word,
                "help": ind_cfg.help,
                "rules": ind_cfg.as_rules(),
                "active": True,
            },
        )
        indicators[indicator.key] = indicator
    _deactivate_missing(
        session, list(indicators.values()), {i.key for i in config.indicators}, "indicator", "key"
    )

    forms = {f.key: f for f in session.exec(select(Form)).all()}
    for form_cfg in config.forms:
        form = forms.get(form_cfg.key) or Form(
            key=form_cfg.key, name=form_cfg.name, period_kind=form_cfg.period.value
        )
        _apply(
            session,
            form,
            "form",
            form_cfg.key,
            {
                "name": form_cfg.name,
                "period_kind": form_cfg.period.value,
                "indicator_keys": list(form_cfg.indicators),
                "rules": list(form_cfg.rules),
                "active": True,
            },
        )
        forms[form.key] = form
    _deactivate_missing(session, list(forms.values()), {f.key for f in config.forms}, "form", "key")
    session.flush()


def prepare_database(config: FigbotConfig) -> Engine:
    """An engine on an up-to-date schema (when ``auto_upgrade``) whose catalog matches the
    config: what the bot, the CLI and the demo all start from."""
    if config.database.auto_upgrade:
        upgrade(config.database.url)
    engine = make_engine(config.database.url)
    with write_session(engine) as session:
        sync_config(session, config=config)
    return engine
