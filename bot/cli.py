"""The ``figbot`` command: run the bot, the demo, and the admin tools."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, make_url
from sqlalchemy.exc import OperationalError

from bot.admin import (
    AdminError,
    bot_username,
    deliver,
    new_invite,
    open_rounds,
    reaching_telegram,
    scheduler_lease,
    set_value,
)
from bot.config import ConfigError, FigbotConfig, load_config
from bot.logsetup import Redactor, configure_logging
from domain.periods import PeriodError
from domain.schedule import EventKind
from models.backup import BackupError, TableCounts, backup_sqlite, restore
from models.crud import get_office
from models.db import SchemaError, read_session, upgrade
from models.tables import Role
from models.types import follow_test_clock, utcnow
from services.catalog import prepare_database
from services.rounds import RoundError
from services.scheduling import calendar

logger = logging.getLogger(__name__)


def cmd_run(config: FigbotConfig, args: argparse.Namespace) -> int:
    from bot.app import build_application, run_until_signalled

    if args.webhook and (problems := config.webhook.problems()):
        print("figbot run --webhook: the config is not ready", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    application = build_application(config)
    mode = "webhook" if args.webhook else "long polling"
    proxy = config.telegram.proxy_host
    via = f" through the proxy {proxy}" if proxy else ""
    logger.info("figbot starting (%s, Bot API at %s%s)", mode, config.telegram.base_url, via)
    webhook = config.webhook if args.webhook else None
    run_until_signalled(application, config=config, webhook=webhook)
    return 0


def cmd_invite(config: FigbotConfig, args: argparse.Namespace) -> int:
    role = Role(args.role)
    engine = prepare_database(config)
    try:
        username = asyncio.run(bot_username(config))
        link = new_invite(
            engine,
            config,
            username=username,
            role=role,
            unit_code=args.unit,
            office_code=args.office,
            now=utcnow(),
        )
    finally:
        engine.dispose()
    print(link.url)
    print(
        f"# {link.role.value} invite for {link.target_name}; single use; "
        f"expires {link.expires_at:%Y-%m-%d %H:%M} UTC",
        file=sys.stderr,
    )
    return 0


def cmd_set_value(config: FigbotConfig, args: argparse.Namespace) -> int:
    actor = f"{args.by or getpass.getuser()} (cli)"
    engine = prepare_database(config)
    try:
        done = set_value(
            engine,
            office_code=args.office or config.offices[0].code,
            unit=args.unit,
            indicator=args.indicator,
            value=args.value,
            reason=args.reason,
            actor=actor,
            now=utcnow(),
            period=args.period,
            form_key=args.form,
        )
    finally:
        engine.dispose()
    old = "—" if done.old is None else done.old
    print(
        f"{done.unit_name} {done.form_name} {done.period.code} {done.label}: "
        f"{old} → {done.new} {done.measure_word} (revision {done.revision_id}, by {actor}); "
        f"{len(done.reporters)} reporter(s) will be told"
    )
    return 0


def cmd_backup(config: FigbotConfig, args: argparse.Namespace) -> int:
    counts = backup_sqlite(config.database.url, _output_file(args.out))
    print(f"backup written to {args.out}: {_counts_text(counts)}")
    return 0


def cmd_restore(config: FigbotConfig, args: argparse.Namespace) -> int:
    counts = restore(Path(args.source), config.database.url)
    print(f"restored {args.source} into the configured database: {_counts_text(counts)}")
    return 0


def _counts_text(counts: TableCounts) -> str:
    shown = ("office", "unit", "contact", "round", "submission", "value", "value_revision")
    return ", ".join(f"{counts.rows.get(name, 0)} {name}" for name in shown)


def cmd_open_round(config: FigbotConfig, args: argparse.Namespace) -> int:
    engine = prepare_database(config)
    try:
        opened = open_rounds(
            engine,
            config,
            form_key=args.form,
            period_text=args.period,
            office_code=args.office,
            now=utcnow(),
            locked=args.locked,
        )
        for office_name, result in opened:
            if result.locked:
                state = "opened locked" if result.created else "already locked"
                print(f"{office_name}: round {args.form} {args.period} {state}; nobody prompted")
                continue
            state = "opened" if result.created else "already open"
            print(
                f"{office_name}: round {args.form} {args.period} {state}; "
                f"{result.prompts_queued} new prompt(s) queued"
            )
        asyncio.run(_deliver_unless_running(config, engine))
    finally:
        engine.dispose()
    return 0


async def _deliver_unless_running(config: FigbotConfig, engine: Engine) -> None:
    async with scheduler_lease(engine, config) as holder:
        if holder is not None:
            print(f"the running figbot ({holder}) sends the queued prompts")
            return
        try:
            with reaching_telegram(config):
                sent = await deliver(config, engine)
        except AdminError as failure:
            raise type(failure)(
                f"{failure}; the round is open and its prompts stay queued: figbot run sends "
                "them once Telegram answers"
            ) from None
    print(
        f"sent {sent.sent} prompt(s); {sent.retry_later} left queued for the bot; "
        f"{sent.blocked} blocked; {sent.failed} failed; "
        f"{sent.ambiguous} timed out (may arrive twice)"
    )


def cmd_schedule(config: FigbotConfig, args: argparse.Namespace) -> int:
    """Print the coming events so an admin can check the calendar before going live."""
    entries = calendar(config, now=utcnow(), periods=args.periods)
    if not entries:
        print("no form has a [forms.schedule]: rounds are opened by hand (figbot open-round)")
        return 0
    what = {
        EventKind.OPEN: "round opens, reporters prompted",
        EventKind.REMINDER: "reminder to units not submitted ({label} before the deadline)",
        EventKind.DIGEST: "digest to coordinators ({label} before the deadline)",
        EventKind.DEADLINE: "deadline",
        EventKind.LOCK: "figures locked",
    }
    for entry in entries:
        local = entry.at.astimezone(ZoneInfo(entry.timezone))
        label = what[entry.kind].format(label=entry.label)
        if entry.kind is EventKind.DIGEST and entry.label == "0":
            label = "digest to coordinators (at the deadline)"
        print(
            f"{local:%Y-%m-%d %a %H:%M}  {entry.office}  {entry.form} {entry.period.code}: {label}"
        )
    return 0


def cmd_summary(config: FigbotConfig, args: argparse.Namespace) -> int:
    """The coordinators' table without Telegram: .xlsx, CSV or Markdown."""
    from tqdm import tqdm

    from reports.compile import compile_summary
    from reports.text import write_csv, write_markdown
    from reports.xlsx import write_xlsx
    from services.summary import SummaryError, load_summary_input, target_for

    writers = {"xlsx": write_xlsx, "csv": write_csv, "markdown": write_markdown}
    out, file_format = _summary_output(args.out, args.format)
    engine = prepare_database(config)
    try:
        with tqdm(
            total=4, desc="summary", unit="step", disable=args.quiet, file=sys.stderr
        ) as progress:
            with read_session(engine) as session:
                office = get_office(session, code=args.office or config.offices[0].code)
                if office is None or office.id is None:
                    raise AdminError(f"unknown office {args.office!r}")
                try:
                    target = target_for(
                        session, office_id=office.id, period_text=args.period, form_key=args.form
                    )
                    data = load_summary_input(session, config=config, target=target)
                except SummaryError as exc:
                    raise AdminError(str(exc)) from None
            progress.update()
            summary = compile_summary(data)
            progress.update()
            content = writers[file_format](summary)
            progress.update()
            _write_output(out, content)
            progress.update()
    finally:
        engine.dispose()
    print(
        f"{out}: {summary.office_name} {summary.form_name} {summary.period.code}, "
        f"{summary.reported}/{summary.unit_count} units reported"
    )
    return 0


def cmd_report(config: FigbotConfig, args: argparse.Namespace) -> int:
    """The annual report's statistics paragraphs, from the year's figures."""
    from reports.annual import DEFAULT_TEMPLATE, ReportTemplateError, draft_report
    from reports.compile import compile_summary
    from services.summary import SummaryError, load_summary_input, target_for

    out = _output_file(args.out, suffixes=REPORT_SUFFIXES) if args.out else None
    engine = prepare_database(config)
    try:
        with read_session(engine) as session:
            office = get_office(session, code=args.office or config.offices[0].code)
            if office is None or office.id is None:
                raise AdminError(f"unknown office {args.office!r}")
            try:
                target = target_for(session, office_id=office.id, period_text=str(args.year))
                data = load_summary_input(session, config=config, target=target)
            except SummaryError as exc:
                raise AdminError(str(exc)) from None
    finally:
        engine.dispose()
    try:
        text = draft_report(
            compile_summary(data),
            config.reports.annual_template or DEFAULT_TEMPLATE,
            seconds=config.reports.annual_template_seconds,
        )
    except ReportTemplateError as exc:
        raise AdminError(str(exc)) from None
    if out is not None:
        _write_output(out, (text + "\n").encode("utf-8"))
        print(f"{out}: annual report draft for {args.year}")
    else:
        print(text)
    return 0


# What each command's --out may be called: the extension says what the file holds.
SUMMARY_SUFFIXES = {"xlsx": (".xlsx",), "csv": (".csv",), "markdown": (".md", ".markdown")}
REPORT_SUFFIXES = (".txt", ".md")


def _output_file(out: str, *, suffixes: Sequence[str] = ()) -> Path:
    """``--out`` checked by the one rule of every command that writes a file (summary, report,
    backup): it names a file, not a folder; its extension fits what is written; a missing
    folder is created when the file is written."""
    path = Path(out)
    if path.is_dir():
        raise AdminError(f"--out {out} is a folder; name a file in it")
    if suffixes and path.suffix.lower() not in suffixes:
        raise AdminError(f"--out {out}: name a {' or '.join(suffixes)} file")
    return path


def _summary_output(out: str, file_format: str | None) -> tuple[Path, str]:
    """The summary's file and format: --format, else the one its extension names."""
    path = _output_file(out)
    suffix = path.suffix.lower()
    named = next((kind for kind, ends in SUMMARY_SUFFIXES.items() if suffix in ends), None)
    if file_format is None and named is None:
        raise AdminError(
            f"--out {out}: a summary is written as .xlsx, .csv or .md (or give --format)"
        )
    chosen = file_format or named
    assert chosen is not None
    if named != chosen:
        raise AdminError(
            f"--out {out} does not fit --format {chosen}; "
            f"name a {' or '.join(SUMMARY_SUFFIXES[chosen])} file"
        )
    return path, chosen


def _write_output(path: Path, content: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    except OSError as exc:
        raise AdminError(f"cannot write {path}: {exc.strerror or exc}") from None


def cmd_db(config: FigbotConfig, args: argparse.Namespace) -> int:
    upgrade(config.database.url, args.revision)
    print(f"database at revision {args.revision}")
    return 0


def cmd_db_revision(config: FigbotConfig, args: argparse.Namespace) -> int:
    """Write a migration for what changed in models/tables.py (for developers)."""
    from alembic import command

    from models.db import alembic_config

    upgrade(config.database.url)
    command.revision(alembic_config(config.database.url), args.message, autogenerate=True)
    return 0


def cmd_demo(_config: FigbotConfig | None, args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    return asyncio.run(run_demo(workdir=args.workdir, verbose=args.verbose))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="figbot", description=__doc__)
    config_help = "config file (default: $FIGBOT_CONFIG or ./config.toml)"
    parser.add_argument("--config", help=config_help)
    # `figbot invite --config config.toml` works as well as `figbot --config config.toml invite`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", parents=[common], help="serve Telegram (long polling)")
    run.add_argument(
        "--webhook",
        action="store_true",
        help="serve updates over HTTP instead ([webhook] in the config); replicas may share a "
        "database behind a load balancer",
    )
    run.set_defaults(func=cmd_run)

    invite = sub.add_parser("invite", parents=[common], help="print a single-use invite link")
    invite.add_argument("--unit", help="unit code (reporter invite)")
    invite.add_argument("--office", help="office code (coordinator invite)")
    invite.add_argument("--role", choices=[r.value for r in Role], default=Role.REPORTER.value)
    invite.set_defaults(func=cmd_invite)

    open_round = sub.add_parser(
        "open-round", parents=[common], help="open a collection round and prompt reporters"
    )
    open_round.add_argument("--form", required=True, help="form key, e.g. monthly")
    open_round.add_argument("--period", required=True, help="e.g. 2026-10, 2026Q3 or 2026")
    open_round.add_argument("--office", help="only this office (default: all)")
    open_round.add_argument(
        "--locked",
        action="store_true",
        help="a period past its lock time: open it locked, prompting nobody "
        "(coordinators /reopen single units)",
    )
    open_round.set_defaults(func=cmd_open_round)

    summary = sub.add_parser(
        "summary", parents=[common], help="compile the summary table to a file"
    )
    summary.add_argument("--form", help="form key (default: the one collected per that period)")
    summary.add_argument("--period", required=True, help="e.g. 2026-10, 2026Q3 or 2026")
    summary.add_argument("--office", help="office code (default: the first in the config)")
    summary.add_argument("--out", required=True, help="file to write (.xlsx, .csv or .md)")
    summary.add_argument(
        "--format",
        choices=list(SUMMARY_SUFFIXES),
        help="xlsx, csv or markdown (default: the one --out's extension names)",
    )
    summary.add_argument("--quiet", action="store_true", help="no progress bar")
    summary.set_defaults(func=cmd_summary)

    report = sub.add_parser(
        "report", parents=[common], help="draft the annual report's statistics paragraphs"
    )
    report.add_argument("--year", type=int, required=True)
    report.add_argument("--office", help="office code (default: the first in the config)")
    report.add_argument("--out", help="write to this .txt (or .md) file instead of printing")
    report.set_defaults(func=cmd_report)

    set_value = sub.add_parser(
        "set-value",
        parents=[common],
        help="correct one unit's value (audited; the unit's reporters are told)",
    )
    set_value.add_argument("--unit", required=True, help="unit code or name")
    set_value.add_argument("--indicator", required=True, help="indicator key, label or alias")
    set_value.add_argument("--value", required=True, help="the right count, e.g. 6")
    set_value.add_argument("--reason", required=True, help="why it changes (kept in the history)")
    set_value.add_argument("--period", help="e.g. 2026-10 (default: the latest round)")
    set_value.add_argument("--form", help="form key (default: the one asking for the indicator)")
    set_value.add_argument("--office", help="office code (default: the first in the config)")
    set_value.add_argument("--by", help="who corrects (default: the system user)")
    set_value.set_defaults(func=cmd_set_value)

    backup = sub.add_parser(
        "backup", parents=[common], help="copy the live SQLite database to a file"
    )
    backup.add_argument("--out", required=True, help="the backup file to write (must not exist)")
    backup.set_defaults(func=cmd_backup)

    restore = sub.add_parser(
        "restore", parents=[common], help="restore a backup into the (empty) database"
    )
    restore.add_argument("--from", dest="source", required=True, help="a file made by backup")
    restore.set_defaults(func=cmd_restore)

    schedule = sub.add_parser(
        "schedule", parents=[common], help="print the coming scheduled events"
    )
    schedule.add_argument("--periods", type=int, default=3, help="rounds per form (default 3)")
    schedule.set_defaults(func=cmd_schedule)

    db = sub.add_parser("db", parents=[common], help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_upgrade = db_sub.add_parser("upgrade", parents=[common], help="upgrade the schema (Alembic)")
    db_upgrade.add_argument("revision", nargs="?", default="head")
    db_upgrade.set_defaults(func=cmd_db)
    db_revision = db_sub.add_parser(
        "revision", parents=[common], help="autogenerate a migration (developers)"
    )
    db_revision.add_argument("message")
    db_revision.set_defaults(func=cmd_db_revision)

    demo = sub.add_parser(
        "demo", parents=[common], help="watch figbot work against its local Bot API server"
    )
    demo.add_argument("--workdir", default="figbot-demo", help="where the demo keeps its database")
    demo.add_argument("--verbose", action="store_true", help="show the bot's log too")
    demo.set_defaults(func=cmd_demo, no_config=True)
    return parser


def _database_unreachable(exc: OperationalError, config: FigbotConfig | None) -> str:
    """One line for a database that is down, refuses the login or cannot be opened."""
    where = "the database"
    if config is not None:
        url = make_url(config.database.url)
        where += f" {url.database}" if url.get_backend_name() == "sqlite" else f" at {url.host}"
        if url.port:
            where += f":{url.port}"
    said = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else "failed"
    return f"cannot use {where}: {said}"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config: FigbotConfig | None = None
    redact = Redactor()  # what is printed to stderr is redacted like the log
    try:
        config = None if getattr(args, "no_config", False) else load_config(args.config)
        if config is not None:
            token = config.telegram.token.get_secret_value()
            redact = Redactor(token=token, secrets=config.secrets())
            configure_logging(config.bot.log_level, token=token, secrets=config.secrets())
            if args.command == "run" and not config.telegram.token.get_secret_value():
                raise AdminError(
                    "telegram.token: required to run (set it in the config or in "
                    "FIGBOT_TELEGRAM_TOKEN)"
                )
        follow_test_clock(os.environ)
        return int(args.func(config, args))
    except AdminError as exc:
        print(f"figbot: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except (BackupError, ConfigError, PeriodError, RoundError, SchemaError) as exc:
        print(f"figbot: {redact(str(exc))}", file=sys.stderr)
        return 2
    except OperationalError as exc:  # worth trying again later, like Telegram out of reach
        print(f"figbot: {redact(_database_unreachable(exc, config))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception:
        # A bug, not an admin's problem: the traceback goes to the log, redacted like every
        # line, rather than unredacted to stderr by Python's own handler.
        logger.critical("figbot stopped by an unexpected error", exc_info=True)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
