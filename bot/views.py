"""Rendering: screens and service results → message text (HTML) and inline keyboards.

Every user-facing string is a gettext message id (English) translated through the catalog; every
value filled in goes through :func:`bot.i18n.fmt`, which escapes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.callbacks import ReportCallback
from bot.i18n import Html, fmt, translator
from domain.figures import ProblemKind
from domain.messages import split_text
from domain.numbers import Number, RefusalReason
from domain.periods import Period, PeriodKind
from models.tables import Role
from reports.compile import IndicatorSpec, Summary, UnitStatus
from reports.text import GapWords, gap_text, number_text, withheld
from services.chasing import (
    ContactLost,
    Digest,
    MissingUnit,
    Reminder,
    RemindResult,
    Renderers,
    Reopened,
    RoundRef,
)
from services.corrections import Correction, CorrectionRefusal, CorrectionRefused
from services.onboarding import Binding, InviteRefusal
from services.overrides import OverrideDone, OverrideRefusal, OverrideRefused
from services.reporting import (
    Action,
    ConfirmOverwrite,
    FiguresReadBack,
    Item,
    Notice,
    NoticeKind,
    OutlierQuestion,
    Question,
    Receipt,
    Review,
    RoundInfo,
    Screen,
    SubmittedByOther,
    Unreadable,
)
from services.rounds import Prompt
from services.status import RoundStatusView


@dataclass(frozen=True)
class Button:
    text: str
    callback_data: str


@dataclass(frozen=True)
class Outgoing:
    text: str
    keyboard: list[list[Button]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "keyboard": [[[b.text, b.callback_data] for b in row] for row in self.keyboard],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outgoing:
        keyboard = [[Button(text, data) for text, data in row] for row in data["keyboard"]]
        return cls(data["text"], keyboard)

    def reply_markup_json(self) -> dict[str, Any] | None:
        """The Bot API's InlineKeyboardMarkup as plain JSON, as replies and the outbox send it."""
        if not self.keyboard:
            return None
        return {
            "inline_keyboard": [
                [{"text": b.text, "callback_data": b.callback_data} for b in row]
                for row in self.keyboard
            ]
        }


def split_long(message: Outgoing) -> list[Outgoing]:
    """A message too long for Telegram as several; the buttons go with the last part."""
    parts = split_text(message.text)
    return [Outgoing(text) for text in parts[:-1]] + [Outgoing(parts[-1], message.keyboard)]


# ---------------------------------------------------------------- small pieces
def period_label(period: Period, language: str) -> Html:
    _ = translator(language)
    if period.kind is PeriodKind.WEEK:
        return fmt(_("week {week} of {year}"), year=period.year, week=period.index)
    if period.kind is PeriodKind.MONTH:
        return fmt(_("{month}/{year}"), year=period.year, month=period.index)
    if period.kind is PeriodKind.QUARTER:
        return fmt(_("Q{quarter} {year}"), year=period.year, quarter=period.index)
    return fmt(_("year {year}"), year=period.year)


def local_time(moment: datetime, timezone: str, language: str) -> Html:
    _ = translator(language)
    local = moment.astimezone(ZoneInfo(timezone))
    return fmt(
        _("{day}/{month} {hh}:{mm}"),
        month=local.month,
        day=local.day,
        hh=f"{local.hour:02d}",
        mm=f"{local.minute:02d}",
    )


def amount(value: float | None, measure_word: str, language: str) -> Html:
    _ = translator(language)
    if value is None:
        return Html(_("—"))
    return fmt(_("{value} {measure_word}"), value=number_text(value), measure_word=measure_word)


def _cb(action: Action, round_id: int, key: str | None = None) -> str:
    return ReportCallback(action.value, round_id, key).encode()


# ---------------------------------------------------------------- prompts and onboarding
def prompt_message(prompt: Prompt) -> Outgoing:
    _ = translator(prompt.language)
    text = fmt(
        _("<b>{unit}</b>: please report <b>{form}</b> for {period}.\nDeadline: {deadline}."),
        unit=prompt.unit_name,
        form=prompt.form_name,
        period=period_label(prompt.period, prompt.language),
        deadline=local_time(prompt.deadline, prompt.timezone, prompt.language),
    )
    return Outgoing(text, [[Button(_("Start reporting"), _cb(Action.START, prompt.round_id))]])


def render_prompt(prompt: Prompt) -> tuple[str, dict[str, Any]]:
    """Adapter for :func:`services.rounds.open_round`."""
    message = prompt_message(prompt)
    markup = message.reply_markup_json()
    assert markup is not None
    return message.text, markup


def welcome(binding: Binding, display_name: str) -> Outgoing:
    _ = translator(binding.language)
    if binding.role is Role.REPORTER:
        return Outgoing(
            fmt(
                _(
                    "Welcome, {name}! You now report for <b>{unit}</b> ({office}). "
                    "I will message you when it is time to report."
                ),
                name=display_name,
                unit=binding.unit_name or "",
                office=binding.office_name,
            )
        )
    return Outgoing(
        fmt(
            _(
                "Welcome, {name}! You are now a coordinator of <b>{office}</b>. "
                "Send /status to see who has reported."
            ),
            name=display_name,
            office=binding.office_name,
        )
    )


def invite_refused(reason: InviteRefusal, language: str) -> Outgoing:
    _ = translator(language)
    texts = {
        InviteRefusal.UNKNOWN: _(
            "This invite link is not valid. Please ask the street office for a new one."
        ),
        InviteRefusal.USED: _(
            "This invite link has already been used. Please ask the street office for a new one."
        ),
        InviteRefusal.EXPIRED: _(
            "This invite link has expired. Please ask the street office for a new one."
        ),
        InviteRefusal.INACTIVE: _(
            "This invite is for a unit that is no longer active. Please contact the street office."
        ),
        InviteRefusal.TOO_MANY: _(
            "Too many invite links that did not work. Please try again in an hour, "
            "or ask the street office for a new link."
        ),
    }
    return Outgoing(texts[reason])


def not_bound(language: str) -> Outgoing:
    _ = translator(language)
    return Outgoing(
        _(
            "Hello! This bot collects figures for the street office. "
            "Please join with the invite link the street office sent you."
        )
    )


def group_refused(language: str) -> Outgoing:
    _ = translator(language)
    return Outgoing(_("Please message me privately; I do not take reports in groups."))


def already_bound(role: Role, unit_name: str | None, office_name: str, language: str) -> Outgoing:
    _ = translator(language)
    if role is Role.REPORTER:
        return Outgoing(
            fmt(
                _("You report for <b>{unit}</b>. Send /report to fill in figures."),
                unit=unit_name or "",
            )
        )
    return Outgoing(
        fmt(
            _("You coordinate <b>{office}</b>. Send /status to see who has reported."),
            office=office_name,
        )
    )


def help_text(role: Role, language: str) -> Outgoing:
    _ = translator(language)
    if role is Role.REPORTER:
        return Outgoing(
            _(
                "I collect your unit's figures for the street office.\n"
                "/report — fill in or change this period's figures\n"
                "/lang — switch language (中文 / English)\n"
                "When I ask a question, just reply with the number, e.g. 15.\n"
                "Several figures at once also work: 调解纠纷15宗，讲座3场.\n"
                "Found a mistake after submitting? Send e.g. 更正 调解纠纷5宗."
            )
        )
    return Outgoing(
        _(
            "I collect figures from the units of your office.\n"
            "/status — who has reported in the open rounds\n"
            "/summary — the table with totals, MoM and YoY (/summary 2026-10, 2026Q3, 2026)\n"
            "/missing — units not reported yet, their contacts, last reminder\n"
            "/chart 调解纠纷 [period|trend] — a chart by unit, or over 12 periods\n"
            "/report 2026 — draft statistics paragraphs of the annual report\n"
            "/remind — chase the units that have not reported (/remind 金海社区: one unit)\n"
            "/reopen 金海社区 — let a unit change its figures after the lock; /lock 金海社区 — "
            "lock it again\n"
            "/correct 金海社区 调解纠纷 6 电话核实 — correct one unit's figure (with the reason)\n"
            "/lang — switch language (中文 / English)"
        )
    )


def language_set(language: str) -> Outgoing:
    _ = translator(language)
    return Outgoing(_("Language set to English."))


def language_usage(language: str) -> Outgoing:
    _ = translator(language)
    return Outgoing(_("Usage: /lang zh or /lang en"))


def not_a_coordinator(language: str) -> Outgoing:
    _ = translator(language)
    return Outgoing(_("Only coordinators can see who has reported."))


def send_text_please(language: str) -> Outgoing:
    _ = translator(language)
    return Outgoing(_("Please send the number as text."))


def too_fast(language: str) -> Outgoing:
    _ = translator(language)
    return Outgoing(
        _("You are sending messages too fast; the last ones were not read. Please wait a moment.")
    )


def unknown_command(language: str) -> Outgoing:
    _ = translator(language)
    return Outgoing(_("Unknown command. Send /help for help."))


def button_not_recognised(language: str) -> str:
    """Shown on the pressed button itself (the answer to the press): plain text, not HTML."""
    _ = translator(language)
    return str(_("This button was not recognised; nothing was changed."))


def bot_commands(language: str) -> list[tuple[str, str]]:
    _ = translator(language)
    return [
        ("report", _("Fill in figures")),
        ("status", _("Who has reported (coordinators)")),
        ("remind", _("Chase units that have not reported (coordinators)")),
        ("summary", _("Summary table (coordinators)")),
        ("missing", _("Units not reported yet (coordinators)")),
        ("chart", _("Chart of an indicator (coordinators)")),
        ("correct", _("Correct a unit's figure (coordinators)")),
        ("help", _("Help")),
        ("lang", _("Language / 语言")),
    ]


# ---------------------------------------------------------------- the conversation
def render_screens(screens: list[Screen], language: str) -> list[Outgoing]:
    return [render_screen(screen, language) for screen in screens]


def render_screen(screen: Screen, language: str) -> Outgoing:
    if isinstance(screen, Question):
        return _question(screen, language)
    if isinstance(screen, Review):
        return _review(screen, language)
    if isinstance(screen, Receipt):
        return _receipt(screen, language)
    if isinstance(screen, SubmittedByOther):
        return _submitted_by_other(screen, language)
    if isinstance(screen, ConfirmOverwrite):
        return _confirm_overwrite(screen, language)
    if isinstance(screen, FiguresReadBack):
        return _figures_read_back(screen, language)
    if isinstance(screen, OutlierQuestion):
        return _outlier_question(screen, language)
    return _notice(screen, language)


def _round_title(info: RoundInfo, language: str) -> Html:
    _ = translator(language)
    return fmt(
        _("{unit} · {form} · {period}"),
        unit=info.unit_name,
        form=info.form_name,
        period=period_label(info.period, language),
    )


def _question(q: Question, language: str) -> Outgoing:
    _ = translator(language)
    lines = [
        fmt(
            _("({position}/{total}) <b>{label}</b> ({measure_word})"),
            position=q.position,
            total=q.total,
            label=q.item.label,
            measure_word=q.item.measure_word,
        ),
    ]
    if q.help:
        lines.append(fmt("<i>{help}</i>", help=q.help))
    if q.previous_value is not None:
        lines.append(
            fmt(
                _("Last period: {amount}"),
                amount=amount(q.previous_value, q.item.measure_word, language),
            )
        )
    if q.item.value is not None:
        lines.append(
            fmt(
                _("Current answer: {amount}"),
                amount=amount(q.item.value, q.item.measure_word, language),
            )
        )
    lines.append(_("Reply with the number."))
    buttons = []
    if q.previous_value is not None:
        buttons.append(
            Button(
                fmt(_("Same as last period ({value})"), value=q.previous_value),
                _cb(Action.SAME, q.info.round_id, q.item.key),
            )
        )
    buttons.append(Button("0", _cb(Action.ZERO, q.info.round_id, q.item.key)))
    if q.optional:
        buttons.append(Button(_("Skip"), _cb(Action.SKIP, q.info.round_id, q.item.key)))
    keyboard = [buttons]
    if q.position == 1:  # a quiet month: one tap, then the review screen to confirm
        keyboard.append(
            [Button(_("Nothing this period (all 0)"), _cb(Action.ALL_ZERO, q.info.round_id))]
        )
    return Outgoing("\n".join(lines), keyboard)


def _item_lines(items: list[Item], language: str) -> list[str]:
    _ = translator(language)
    return [
        fmt(
            _("{n}. {label}: {amount}"),
            n=n,
            label=item.label,
            amount=amount(item.value, item.measure_word, language),
        )
        for n, item in enumerate(items, start=1)
    ]


def _review(review: Review, language: str) -> Outgoing:
    _ = translator(language)
    lines = [fmt(_("Please check <b>{title}</b>:"), title=_round_title(review.info, language)), ""]
    lines += _item_lines(review.items, language)
    keyboard = []
    if review.broken:
        lines += ["", _("⚠️ These figures do not fit together:")]
        for broken in review.broken:
            values = Html(
                ("，" if language.startswith("zh") else ", ").join(
                    fmt(
                        _("{label} {amount}"),
                        label=item.label,
                        amount=amount(item.value, item.measure_word, language),
                    )
                    for item in broken.items
                )
            )  # already escaped, piece by piece
            lines.append(
                fmt(_("• should be {rule}, but {values}"), rule=broken.shown, values=values)
            )
        lines += ["", _("Please tap the item to correct.")]
    else:
        lines += ["", _("Tap Submit if everything is right, or tap an item to change it.")]
        keyboard.append([Button(_("✅ Submit"), _cb(Action.SUBMIT, review.info.round_id))])
    edit_buttons = [
        Button(
            fmt(_("Change {label}"), label=item.label),
            _cb(Action.EDIT, review.info.round_id, item.key),
        )
        for item in review.items
    ]
    keyboard += [edit_buttons[i : i + 2] for i in range(0, len(edit_buttons), 2)]
    if review.changing_submitted:
        keyboard.append([Button(_("Cancel"), _cb(Action.CANCEL, review.info.round_id))])
    return Outgoing("\n".join(lines), keyboard)


def _receipt(receipt: Receipt, language: str) -> Outgoing:
    _ = translator(language)
    info = receipt.info
    when = local_time(receipt.submitted_at, info.timezone, language)
    if receipt.first_submission:
        lines = [
            fmt(
                _("✅ Submitted: <b>{title}</b>, {count} items, at {time}."),
                title=_round_title(info, language),
                count=len(receipt.items),
                time=when,
            ),
            "",
        ]
        lines += _item_lines(receipt.items, language)
    else:
        lines = [
            fmt(
                _("✅ Changes saved for <b>{title}</b> at {time}:"),
                title=_round_title(info, language),
                time=when,
            )
        ]
        lines += [
            fmt(
                _("{label}: {old} → {new}"),
                label=item.label,
                old=amount(old, item.measure_word, language),
                new=amount(item.value, item.measure_word, language),
            )
            for item, old in receipt.changes
        ]
    lines.append("")
    if receipt.late:
        lines.append(_("⚠️ Submitted after the deadline: marked late."))
    else:
        lines.append(
            fmt(
                _("You can change it until {deadline} with /report."),
                deadline=local_time(info.deadline, info.timezone, language),
            )
        )
    return Outgoing("\n".join(lines))


def _submitted_by_other(screen: SubmittedByOther, language: str) -> Outgoing:
    _ = translator(language)
    text = fmt(
        _(
            "<b>{title}</b> was already submitted by {name} at {time}. "
            "Do you want to view and change it?"
        ),
        title=_round_title(screen.info, language),
        name=screen.submitted_by,
        time=local_time(screen.submitted_at, screen.info.timezone, language),
    )
    return Outgoing(
        text,
        [
            [
                Button(_("View and change"), _cb(Action.TAKE_OVER, screen.info.round_id)),
                Button(_("No, leave it"), _cb(Action.CANCEL, screen.info.round_id)),
            ]
        ],
    )


def _confirm_overwrite(screen: ConfirmOverwrite, language: str) -> Outgoing:
    _ = translator(language)
    lines = [
        fmt(
            _(
                "While you were editing, {name} submitted <b>{title}</b> at {time}. "
                "These values differ:"
            ),
            name=screen.submitted_by,
            title=_round_title(screen.info, language),
            time=local_time(screen.submitted_at, screen.info.timezone, language),
        ),
        "",
    ]
    lines += [
        fmt(
            _("{label}: theirs {theirs}, yours {mine}"),
            label=item.label,
            theirs=amount(theirs, item.measure_word, language),
            mine=amount(item.value, item.measure_word, language),
        )
        for item, theirs in screen.differences
    ]
    lines += ["", _("Overwrite with your values?")]
    return Outgoing(
        "\n".join(lines),
        [
            [
                Button(_("Overwrite"), _cb(Action.OVERWRITE, screen.info.round_id)),
                Button(_("Cancel"), _cb(Action.CANCEL, screen.info.round_id)),
            ]
        ],
    )


ECHO_LIMIT = 40  # characters of the user's own text quoted back


def _clip(text: str) -> str:
    return text if len(text) <= ECHO_LIMIT else text[: ECHO_LIMIT - 1] + "…"


def _unreadable(problem: Unreadable, language: str) -> str:
    _ = translator(language)
    problem = replace(problem, text=_clip(problem.text))
    if problem.kind is ProblemKind.UNKNOWN:
        return fmt(_("“{text}”: which item is this? Please write its name."), text=problem.text)
    if problem.kind is ProblemKind.NO_NUMBER:
        return fmt(_("{label}: no number given."), label=problem.label or "")
    if problem.kind is ProblemKind.CONFLICT:
        return fmt(
            _("{label}: two different numbers ({text}); please send one."),
            label=problem.label or "",
            text=problem.text,
        )
    if problem.kind is ProblemKind.OUT_OF_BOUNDS:
        message = (
            _("{label} “{text}”: it cannot be less than {bound}.")
            if problem.reason == "below"
            else _("{label} “{text}”: it cannot be more than {bound}.")
        )
        return fmt(message, label=problem.label or "", text=problem.text, bound=problem.bound)
    reason = problem.reason if isinstance(problem.reason, RefusalReason) else None
    item = Item(
        key="",
        label=problem.label or "",
        measure_word=problem.measure_word or "",
        value=None,
        decimals=problem.decimals,
    )
    explanation = _bad_number(reason or RefusalReason.NOT_A_NUMBER, item, language)
    return fmt(
        _("{label} “{text}”: {explanation}"),
        label=item.label,
        text=problem.text,
        explanation=Html(explanation),
    )


def _figures_read_back(screen: FiguresReadBack, language: str) -> Outgoing:
    _ = translator(language)
    lines: list[str] = []
    if screen.changes:
        lines.append(
            fmt(
                _("I read these figures for <b>{title}</b>:")
                if not screen.correction
                else _("Change the submitted figures of <b>{title}</b>:"),
                title=_round_title(screen.info, language),
            )
        )
        lines += _change_lines(screen.changes, language)
        if screen.also:
            lines += ["", _("Saved with them, your changes not submitted yet:")]
            lines += _change_lines(screen.also, language)
    if screen.problems:
        if lines:
            lines.append("")
        lines.append(_("Not taken:") if screen.changes else _("I could not take these figures:"))
        lines += ["• " + _unreadable(problem, language) for problem in screen.problems]
    if not screen.changes:
        return Outgoing("\n".join(lines))
    lines += ["", _("Is this right? Nothing is saved until you confirm.")]
    return Outgoing(
        "\n".join(lines),
        [
            [
                Button(_("✅ Confirm"), _cb(Action.CONFIRM, screen.info.round_id, screen.token)),
                Button(_("✏️ Change"), _cb(Action.DISCARD, screen.info.round_id, screen.token)),
            ]
        ],
    )


def _change_lines(changes: list[tuple[Item, Number | None]], language: str) -> list[str]:
    """ "调解纠纷：5宗 → 6宗" for each change ("调解纠纷：6宗" where nothing is replaced)."""
    _ = translator(language)
    lines: list[str] = []
    for item, old in changes:
        if old is None or old == item.value:
            lines.append(
                fmt(
                    _("{label}: {amount}"),
                    label=item.label,
                    amount=amount(item.value, item.measure_word, language),
                )
            )
        else:
            lines.append(
                fmt(
                    _("{label}: {old} → {new}"),
                    label=item.label,
                    old=amount(old, item.measure_word, language),
                    new=amount(item.value, item.measure_word, language),
                )
            )
    return lines


def _outlier_question(screen: OutlierQuestion, language: str) -> Outgoing:
    _ = translator(language)
    item = screen.item
    lines = [
        fmt(
            _("{period} {label}: {amount}."),
            period=period_label(screen.info.period, language),
            label=item.label,
            amount=amount(item.value, item.measure_word, language),
        )
    ]
    if screen.previous_value is not None and screen.change_percent is not None:
        lines.append(
            fmt(
                _("Last period: {amount} ({change})."),
                amount=amount(screen.previous_value, item.measure_word, language),
                change=_percent(screen.change_percent / 100),
            )
        )
    lines.append(
        fmt(
            _("This is far from the unit's usual figure (median of recent periods: {median})."),
            median=number_text(screen.median),
        )
    )
    lines.append(
        _("Please confirm it, send the right number, or reply with the reason in a few words.")
    )
    return Outgoing(
        "\n".join(lines),
        [[Button(_("Confirm, it is right"), _cb(Action.KEEP, screen.info.round_id, item.key))]],
    )


def _bad_number(reason: RefusalReason, item: Item, language: str) -> str:
    _ = translator(language)
    if reason is RefusalReason.NEGATIVE:
        return _("The number cannot be negative. Please enter it again.")
    if reason is RefusalReason.DECIMAL and item.decimals > 0:
        return fmt(
            _("{label} takes at most {places} decimal places."),
            label=item.label,
            places=item.decimals,
        )
    if reason is RefusalReason.DECIMAL:
        return _("Please enter a whole number, without decimals.")
    if reason is RefusalReason.APPROXIMATE:
        return fmt(_("Please give the exact number of {label}, not an estimate."), label=item.label)
    if reason is RefusalReason.RANGE:
        return fmt(
            _("Please give the exact number of {label}: “7 or 8” is a range, not one number."),
            label=item.label,
        )
    if reason is RefusalReason.LOOKALIKE:
        return _(
            "Please write the number in ordinary digits or in Chinese numerals: "
            "², ① or ½ only look like digits."
        )
    if reason is RefusalReason.TOO_LARGE:
        return _("That number is too large. Please check it and enter it again.")
    if reason is RefusalReason.WRONG_MEASURE_WORD:
        return fmt(
            _("{label} is counted in “{measure_word}”. Please reply like 15{measure_word}."),
            label=item.label,
            measure_word=item.measure_word,
        )
    return fmt(
        _("Please reply with a whole number, e.g. 15 or 15{measure_word}."),
        measure_word=item.measure_word,
    )


def _notice(notice: Notice, language: str) -> Outgoing:
    _ = translator(language)
    kind = notice.kind
    info = notice.info
    title = _round_title(info, language) if info else ""
    if kind is NoticeKind.BAD_NUMBER:
        assert notice.reason is not None and notice.item is not None
        text = _bad_number(notice.reason, notice.item, language)
        choices = notice.extra.get("choices", "").split()
        if not choices or info is None:
            return Outgoing(text)
        hint = (
            _("If it is exactly the figure you wrote, tap the button.")
            if len(choices) == 1
            else _("If it is one of these figures, tap it.")
        )
        buttons = [
            Button(
                fmt(_("Record {value}"), value=choice),
                _cb(Action.ACCEPT, info.round_id, f"{notice.extra['position']}={choice}"),
            )
            for choice in choices
        ]
        return Outgoing(fmt(_("{refusal} {hint}"), refusal=Html(text), hint=hint), [buttons])
    if kind is NoticeKind.LOCKED:
        names = notice.extra.get("coordinators")
        if names:
            return Outgoing(
                fmt(
                    _(
                        "{title} is locked: the figures can no longer be changed here. "
                        "To correct one, please ask the coordinator: {names}."
                    ),
                    title=title,
                    names=names,
                )
            )
        return Outgoing(
            fmt(
                _(
                    "{title} is locked: the figures can no longer be changed here. "
                    "To correct one, please ask the street office."
                ),
                title=title,
            )
        )
    if kind is NoticeKind.CLOSED:
        return Outgoing(fmt(_("{title} is closed."), title=title))
    if kind is NoticeKind.LATE_WARNING:
        assert info is not None
        return Outgoing(
            fmt(
                _(
                    "The deadline ({deadline}) has passed. You can still report; "
                    "it will be marked late."
                ),
                deadline=local_time(info.deadline, info.timezone, language),
            )
        )
    if kind is NoticeKind.CANCELLED:
        return Outgoing(_("Cancelled. Nothing was changed."))
    if kind is NoticeKind.OUT_OF_BOUNDS:
        assert notice.item is not None
        message = (
            _("{label} cannot be less than {bound}. Please check and enter it again.")
            if notice.extra.get("violation") == "below"
            else _("{label} cannot be more than {bound}. Please check and enter it again.")
        )
        return Outgoing(fmt(message, label=notice.item.label, bound=notice.extra.get("bound")))
    if kind is NoticeKind.NOTE_SAVED:
        assert notice.item is not None
        return Outgoing(fmt(_("Noted: the reason is kept with {label}."), label=notice.item.label))
    if kind is NoticeKind.ANSWER_FIRST:
        assert notice.item is not None
        return Outgoing(
            fmt(
                _(
                    "Please answer the question about {label} above first, then send the "
                    "correction again. Nothing was changed."
                ),
                label=notice.item.label,
            )
        )
    texts = {
        NoticeKind.NO_OPEN_ROUND: _(
            "There is nothing to report right now. I will message you when a new round opens."
        ),
        NoticeKind.NOTHING_IN_PROGRESS: _(
            "Nothing is being filled in right now. Send /report to start."
        ),
        NoticeKind.USE_BUTTONS: _("Please use the buttons below."),
        NoticeKind.STALE_BUTTON: _("That button is out of date. Here is where you are:"),
        NoticeKind.NOT_A_REPORTER: _("Only reporters of a community or village fill in figures."),
        NoticeKind.NO_CHANGES: _("Nothing changed; the submitted figures stay as they were."),
    }
    return Outgoing(texts[kind])


# ---------------------------------------------------------------- coordinator status
def status_message(views: list[RoundStatusView], language: str) -> Outgoing:
    _ = translator(language)
    if not views:
        return Outgoing(_("No collection rounds yet."))
    blocks = []
    for view in views:
        lines = [
            fmt(
                _("<b>{form}</b> · {period} (deadline {deadline})"),
                form=view.form_name,
                period=period_label(view.period, language),
                deadline=local_time(view.deadline, view.timezone, language),
            ),
            fmt(_("Submitted {done}/{total}"), done=view.submitted_count, total=len(view.units)),
        ]
        for unit in view.units:
            if unit.submitted_at is None:
                lines.append(fmt(_("⏳ {unit} — not yet"), unit=unit.unit_name))
            else:
                line = fmt(
                    _("✅ {unit} — {time}, {name}"),
                    unit=unit.unit_name,
                    time=local_time(unit.submitted_at, view.timezone, language),
                    name=unit.submitted_by or "?",
                )
                if unit.late:
                    line += _(" (late)")
                lines.append(line)
        blocks.append("\n".join(lines))
    return Outgoing("\n\n".join(blocks))


# ---------------------------------------------------------------- chasing
def render_reminder(reminder: Reminder) -> tuple[str, dict[str, Any] | None]:
    language = reminder.language
    _ = translator(language)
    ref = reminder.round
    title = fmt(
        _("{unit} · {form} · {period}"),
        unit=reminder.unit_name,
        form=ref.form_name,
        period=period_label(ref.period, language),
    )
    deadline = local_time(ref.deadline, ref.timezone, language)
    if reminder.answered is None:
        text = fmt(
            _("⏰ Reminder: <b>{title}</b> has not been submitted yet. Deadline: {deadline}."),
            title=title,
            deadline=deadline,
        )
        button = _("Start reporting")
    else:
        text = fmt(
            _(
                "⏰ Reminder: you are at {answered}/{total} in <b>{title}</b>. "
                "Tap Continue to finish before {deadline}."
            ),
            answered=reminder.answered,
            total=reminder.total,
            title=title,
            deadline=deadline,
        )
        button = _("Continue")
    message = Outgoing(text, [[Button(button, _cb(Action.START, ref.round_id))]])
    return message.text, message.reply_markup_json()


def render_digest(digest: Digest) -> tuple[str, dict[str, Any] | None]:
    language = digest.language
    _ = translator(language)
    ref = digest.round
    head = fmt(
        _("<b>{form}</b> · {period}"),
        form=ref.form_name,
        period=period_label(ref.period, language),
    )
    deadline = local_time(ref.deadline, ref.timezone, language)
    if not digest.pending:
        lines = [
            fmt(
                _("✅ {head}: all {total} units have submitted."),
                head=head,
                total=digest.total_units,
            )
        ]
    else:
        intro = (
            _(
                "⏰ {head}: the deadline ({deadline}) has come; "
                "{pending}/{total} units have not submitted:"
            )
            if digest.at_deadline
            else _(
                "⏰ {head}: {pending}/{total} units have not submitted yet (deadline {deadline}):"
            )
        )
        lines = [
            fmt(
                intro,
                head=head,
                deadline=deadline,
                pending=len(digest.pending),
                total=digest.total_units,
            )
        ]
        for unit in digest.pending:
            if not unit.has_contact:
                lines.append(fmt(_("• {unit} (no contact: invite one)"), unit=unit.name))
            elif unit.last_seen is None:
                lines.append(fmt(_("• {unit} (never active)"), unit=unit.name))
            else:
                lines.append(
                    fmt(
                        _("• {unit} (last active {time})"),
                        unit=unit.name,
                        time=local_time(unit.last_seen, ref.timezone, language),
                    )
                )
        lines.append(_("Send /remind to chase them now."))
    return "\n".join(lines), None


def render_contact_lost(lost: ContactLost) -> tuple[str, dict[str, Any] | None]:
    _ = translator(lost.language)
    lines = [
        fmt(
            _("⚠️ {name} of {unit} has blocked the bot and will get no more prompts."),
            name=lost.contact_name,
            unit=lost.unit_name,
        )
    ]
    if lost.remaining_contacts == 0:
        lines.append(
            fmt(
                _("{unit} has no other contact now. Please invite someone: figbot invite --unit …"),
                unit=lost.unit_name,
            )
        )
    return "\n".join(lines), None


def render_reopened(notice: Reopened) -> tuple[str, dict[str, Any] | None]:
    language = notice.language
    _ = translator(language)
    title = fmt(
        _("{unit} · {form} · {period}"),
        unit=notice.unit_name,
        form=notice.round.form_name,
        period=period_label(notice.round.period, language),
    )
    if notice.reopened:
        message = Outgoing(
            fmt(
                _("The coordinator has reopened <b>{title}</b>: you can change the figures now."),
                title=title,
            ),
            [[Button(_("Change figures"), _cb(Action.START, notice.round.round_id))]],
        )
        return message.text, message.reply_markup_json()
    return fmt(_("<b>{title}</b> is locked again."), title=title), None


def render_summary(summary: Summary, language: str) -> tuple[str, dict[str, Any] | None]:
    return summary_message(summary, language).text, None


RENDERERS = Renderers(
    reminder=render_reminder,
    digest=render_digest,
    contact_lost=render_contact_lost,
    reopened=render_reopened,
    summary=render_summary,
)


def remind_result(result: RemindResult, language: str) -> Outgoing:
    _ = translator(language)
    if result.round is None:
        return Outgoing(_("There is no open round to chase."))
    if result.unknown_unit is not None:
        return Outgoing(
            fmt(_("There is no unit “{unit}” in your office."), unit=result.unknown_unit)
        )
    lines = []
    if result.reminded:
        lines.append(fmt(_("Reminded: {units}."), units="、".join(result.reminded)))
    if result.already_submitted:
        lines.append(
            fmt(_("Already submitted: {units}."), units="、".join(result.already_submitted))
        )
    for unit, minutes in result.cooling:
        lines.append(
            fmt(
                _("{unit} was reminded recently; again in {minutes} min."),
                unit=unit,
                minutes=minutes,
            )
        )
    if result.without_contact:
        lines.append(
            fmt(_("No contact to remind: {units}."), units="、".join(result.without_contact))
        )
    if not lines:
        lines.append(_("Every unit has submitted. Nobody to chase."))
    return Outgoing("\n".join(lines))


def override_done(done: OverrideDone, reopened: bool, language: str) -> Outgoing:
    _ = translator(language)
    title = fmt(
        _("{unit} · {form} · {period}"),
        unit=done.unit_name,
        form=done.form_name,
        period=period_label(done.period, language),
    )
    if reopened:
        return Outgoing(
            fmt(
                _("Reopened <b>{title}</b>; its reporters were told. Send /lock {unit} when done."),
                title=title,
                unit=done.unit_name,
            )
        )
    return Outgoing(fmt(_("Locked <b>{title}</b> again."), title=title))


def override_refused(refused: OverrideRefused, language: str) -> Outgoing:
    _ = translator(language)
    texts = {
        OverrideRefusal.UNKNOWN_UNIT: _("There is no unit “{unit}” in your office."),
        OverrideRefusal.NO_ROUND: _("There is no round to reopen."),
        OverrideRefusal.NOT_LOCKED: _(
            "The round is not locked yet: {unit} can still change its figures."
        ),
        OverrideRefusal.ALREADY_REOPENED: _("{unit} is already reopened."),
        OverrideRefusal.NOT_REOPENED: _("{unit} is not reopened, so there is nothing to lock."),
    }
    return Outgoing(fmt(texts[refused.reason], unit=refused.unit_name))


def override_usage(language: str) -> Outgoing:
    _ = translator(language)
    return Outgoing(
        _("Usage: /reopen <unit> [period] or /lock <unit> [period], e.g. /reopen 金海社区")
    )


# ---------------------------------------------------------------- corrections
def correction_usage(language: str) -> Outgoing:
    _ = translator(language)
    return Outgoing(
        _(
            "Usage: /correct <unit> <item> <number> [period] <reason>, "
            "e.g. /correct 金海社区 调解纠纷 6 电话核实，漏报一宗"
        )
    )


def correction_done(correction: Correction, language: str) -> Outgoing:
    _ = translator(language)
    return Outgoing(
        fmt(
            _(
                "✅ Corrected {unit} · {period} · {label}: {old} → {new}.\n"
                "Reason: {reason}. Kept in the change history; the unit's reporters are told."
            ),
            unit=correction.unit_name,
            period=period_label(correction.period, language),
            label=correction.label,
            old=amount(correction.old, correction.measure_word, language),
            new=amount(correction.new, correction.measure_word, language),
            reason=correction.reason,
        )
    )


def correction_notice(correction: Correction, language: str) -> str:
    """What the unit's reporters are told (the outbox sends it)."""
    _ = translator(language)
    return fmt(
        _(
            "The street office ({actor}) changed {form} {period} {label}: {old} → {new}. "
            "Reason: {reason}."
        ),
        actor=correction.actor.split(" (")[0],
        form=correction.form_name,
        period=period_label(correction.period, language),
        label=correction.label,
        old=amount(correction.old, correction.measure_word, language),
        new=amount(correction.new, correction.measure_word, language),
        reason=correction.reason,
    )


def correction_refused(refused: CorrectionRefused, language: str) -> Outgoing:
    _ = translator(language)
    bad_values = {  # a value that is no count: say what it is, as the reporters hear it
        RefusalReason.RANGE: _("“{detail}” is a range, not one number."),
        RefusalReason.APPROXIMATE: _("“{detail}” is an estimate, not an exact number."),
        RefusalReason.LOOKALIKE: _("“{detail}” holds characters that only look like digits."),
    }
    texts = {
        CorrectionRefusal.UNKNOWN_UNIT: _("No unit of your office is called “{detail}”."),
        CorrectionRefusal.UNKNOWN_INDICATOR: _("No open or locked round asks for “{detail}”."),
        CorrectionRefusal.NO_ROUND: _("There is no round to correct for that period."),
        CorrectionRefusal.BAD_VALUE: bad_values.get(
            refused.refusal or RefusalReason.NOT_A_NUMBER, _("“{detail}” is not a whole number.")
        ),
        CorrectionRefusal.OUT_OF_BOUNDS: _("That number is outside the item's allowed range."),
        CorrectionRefusal.NO_REASON: _("Please add the reason for the correction."),
        CorrectionRefusal.UNCHANGED: _("The value is already {detail}; nothing changed."),
    }
    if refused.refusal is RefusalReason.TOO_LARGE:
        return Outgoing(_("That number is too large. Please check it and enter it again."))
    return Outgoing(fmt(texts[refused.reason], detail=refused.detail))


# ---------------------------------------------------------------- summaries
def _figure(value: float, measure_word: str, language: str) -> Html:
    if value is None or math.isnan(value):
        return Html(translator(language)("—"))
    return fmt(
        translator(language)("{value} {measure_word}"),
        value=number_text(value),
        measure_word=measure_word,
    )


def _percent(change: float) -> str:
    if change is None or math.isnan(change):
        return "—"
    return f"{change:+.1%}"


def _gap_words(language: str) -> GapWords:
    """How a coverage gap is told in ``language`` (see ``reports.text.gap_text``)."""
    _ = translator(language)
    return GapWords(
        period=lambda period: str(period_label(period, language)),
        no_data=_("no data for {period}"),
        narrow=_("{narrow} has data for {narrow_parts} only, {wide} for {wide_parts}"),
        parts=_("{base} has data for {base_parts}, {current} for {current_parts}"),
        only_in=_("{units} reported only in {period}"),
        other_months=_("{units} reported for different months in the two periods"),
        other_quarters=_("{units} reported for different quarters in the two periods"),
        months=_("months {ranges}"),
        quarters=_("quarters {ranges}"),
        span=_("{first}–{last}"),
        list_separator=_(", "),
        clause_separator=_("; "),
        more_units=_("{names} and others ({total} units)"),
    )


def _coverage_notes(summary: Summary, language: str) -> list[str]:
    """Why a 环比 or 同比 shown as "—" is left out, where the reason is coverage."""
    _ = translator(language)
    keys = [spec.key for spec in summary.indicators]
    lines: list[str] = []
    comparisons = [
        ("mom", _("MoM not given: {reason}."), _("MoM not given for {indicators}: {reason}.")),
        ("yoy", _("YoY not given: {reason}."), _("YoY not given for {indicators}: {reason}.")),
    ]
    if summary.period.previous() == summary.period.same_period_last_year():  # a year
        comparisons = [
            (
                "yoy",
                _("MoM and YoY not given: {reason}."),
                _("MoM and YoY not given for {indicators}: {reason}."),
            )
        ]
    for column, alone, listed in comparisons:
        for labels, gap in withheld(summary, column, keys):
            reason = gap_text(gap, _gap_words(language))
            if labels:
                lines.append(fmt(listed, indicators="、".join(labels), reason=reason))
            else:
                lines.append(fmt(alone, reason=reason))
    return lines


def summary_message(summary: Summary, language: str) -> Outgoing:
    """Completeness first, then the office totals with 环比/同比: fits a phone screen."""
    _ = translator(language)
    lines: list[str] = [
        fmt(
            _("<b>{office} · {form} · {period}</b>"),
            office=summary.office_name,
            form=summary.form_name,
            period=period_label(summary.period, language),
        )
    ]
    counts = summary.counts
    lines.append(
        fmt(
            _("Reported {done}/{total}: {late} late, {partial} partial, {missing} missing"),
            done=summary.reported,
            total=summary.unit_count,
            late=counts[UnitStatus.LATE],
            partial=counts[UnitStatus.PARTIAL],
            missing=counts[UnitStatus.MISSING],
        )
    )
    missing = summary.table[summary.table["status"] == UnitStatus.MISSING.value]["unit"].tolist()
    if missing:
        lines.append(fmt(_("Not reported: {units}"), units="、".join(missing)))
    lines.append("")
    for row in summary.comparison.to_dict("records"):
        lines.append(
            fmt(
                _("{label}: {figure} · MoM {mom} · YoY {yoy}"),
                label=row["label"],
                figure=_figure(row["current"], row["measure_word"], language),
                mom=_percent(row["mom"]),
                yoy=_percent(row["yoy"]),
            )
        )
    lines += _coverage_notes(summary, language)
    lines += ["", _("The full table is in the attached file.")]
    return Outgoing("\n".join(lines))


def summary_refused(problem: str, language: str) -> Outgoing:
    """``problem``: "no_round", or the period text that could not be used."""
    _ = translator(language)
    if problem == "no_round":
        return Outgoing(_("There is nothing to summarise yet: no round has opened."))
    return Outgoing(
        fmt(
            _(
                "Cannot summarise “{period}”. Write it like /summary 2026-10, /summary 2026Q3 or "
                "/summary 2026."
            ),
            period=problem,
        )
    )


def missing_message(rows: list[MissingUnit], ref: RoundRef | None, language: str) -> Outgoing:
    _ = translator(language)
    if ref is None:
        return Outgoing(_("There is no open round."))
    title = fmt(
        _("<b>{form}</b> · {period}"), form=ref.form_name, period=period_label(ref.period, language)
    )
    if not rows:
        return Outgoing(fmt(_("{title}: every unit has submitted."), title=title))
    lines: list[str] = [
        fmt(
            _("{title}: {count} units have not submitted (deadline {deadline})"),
            title=title,
            count=len(rows),
            deadline=local_time(ref.deadline, ref.timezone, language),
        )
    ]
    for row in rows:
        contacts = "、".join(row.contacts) if row.contacts else _("no contact")
        reminded = (
            local_time(row.last_reminded, ref.timezone, language)
            if row.last_reminded
            else _("never")
        )
        lines.append(
            fmt(
                _("• {unit} — {contacts}; last reminded {when}"),
                unit=row.unit_name,
                contacts=contacts,
                when=reminded,
            )
        )
    return Outgoing("\n".join(lines))


def report_message(text: str, summary: Summary, language: str) -> Outgoing:
    _ = translator(language)
    head = fmt(
        _("<b>Draft: statistics of the {year} annual report</b> ({done}/{total} units reported)"),
        year=summary.period.year,
        done=summary.units_with_figures,
        total=summary.unit_count,
    )
    return Outgoing(head + "\n\n" + fmt("{text}", text=text))


def report_usage(language: str) -> Outgoing:
    _ = translator(language)
    return Outgoing(_("Usage: /report 2026 (the year of the annual report)"))


def report_template_broken(problem: str, language: str) -> Outgoing:
    _ = translator(language)
    return Outgoing(
        fmt(_("The report template in the config has a mistake: {problem}"), problem=problem)
    )


def report_template_too_slow(seconds: float, language: str) -> Outgoing:
    _ = translator(language)
    return Outgoing(
        fmt(
            _(
                "The report template in the config ran longer than {seconds} s and was stopped. "
                "Please simplify it (for example, fewer loops) and try again."
            ),
            seconds=f"{seconds:g}",
        )
    )


def chart_usage(language: str) -> Outgoing:
    _ = translator(language)
    return Outgoing(
        _(
            "Usage: /chart <indicator> [period], e.g. /chart 调解纠纷 2026-10, or "
            "/chart 调解纠纷 trend for the last 12 periods"
        )
    )


def unknown_indicator(text: str, indicators: list[IndicatorSpec], language: str) -> Outgoing:
    _ = translator(language)
    return Outgoing(
        fmt(
            _("There is no indicator “{text}”. Choose one of: {labels}"),
            text=text,
            labels="、".join(spec.label for spec in indicators),
        )
    )


def chart_unavailable(language: str) -> Outgoing:
    _ = translator(language)
    return Outgoing(
        _(
            "Charts are not available: the server has no Chinese font. "
            "Please tell the administrator."
        )
    )
