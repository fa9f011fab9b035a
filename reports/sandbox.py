"""Rendering a Jinja2 template from the config: in Jinja's sandbox, in a process of its own,
stopped when its time is up.

The office edits the template, and a loop inside a loop runs for hours. Rendered on the bot's
event loop it would freeze every answer; in a thread it could not be stopped (Python cannot
kill a thread). A process can be: the template is rendered in a child process that is killed
when ``seconds`` pass, and whose memory is capped (a template can also build a string of many
gigabytes). The sandbox keeps the template from reaching into figbot's objects.

The child comes from multiprocessing's forkserver: forked from a small server process that has
imported only this module, not from the bot itself (a fork of a process that runs threads can
leave the child waiting forever on a lock another thread held) and without starting Python
afresh for every report. ``concurrent.futures``' process pool cannot stop a task once it runs
(only Python 3.14 can terminate its workers), and a library such as pebble would add a
dependency for the few lines of ``render``.

This module imports nothing heavy: the forkserver loads it, and every child starts from there.
"""

from __future__ import annotations

import multiprocessing
import resource
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

MEMORY_LIMIT = 1 << 30  # bytes of address space the child may use


class TemplateError(Exception):
    """The template could not be rendered; the message says why."""


class TemplateTooSlow(TemplateError):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"stopped after {seconds:g} s; simplify it (fewer or smaller loops)")
        self.seconds = seconds


@dataclass(frozen=True)
class Lookup:
    """A function the template calls (``yoy('KEY')``, ``rate('A', 'B')``) as the table of its
    answers: it crosses to the child process as data, where a closure could not be pickled.
    What the template asked for comes back with the text (:attr:`Rendered.asked`)."""

    answers: dict[tuple[str, ...], str]
    asked: set[tuple[str, ...]] = field(default_factory=set, compare=False)

    def __call__(self, *keys: str) -> str:
        try:
            answer = self.answers[keys]
        except KeyError:
            raise KeyError(", ".join(map(repr, keys))) from None
        self.asked.add(keys)
        return answer


@dataclass(frozen=True)
class Rendered:
    text: str
    # For each Lookup in the context, by its name there: the arguments it was called with.
    asked: dict[str, set[tuple[str, ...]]]


def render(template: str, context: dict[str, Any], *, seconds: float) -> Rendered:
    """``template`` rendered with ``context`` (plain data, :class:`Lookup` for functions), with
    surrounding white space stripped. Blocks the calling thread up to ``seconds``."""
    processes = multiprocessing.get_context("forkserver")
    processes.set_forkserver_preload([__name__])
    receiver, sender = processes.Pipe(duplex=False)
    child = processes.Process(
        target=_render_here, args=(template, context, sender), name="figbot-template", daemon=True
    )
    child.start()
    sender.close()
    try:
        if not receiver.poll(seconds):
            raise TemplateTooSlow(seconds)
        done, text, asked = receiver.recv()
    except EOFError:
        raise TemplateError("the rendering process ended without an answer") from None
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()
        child.close()
    if not done:
        raise TemplateError(text)
    return Rendered(str(text), asked)


def _render_here(template: str, context: dict[str, Any], answer: Connection) -> None:
    """In the child: render and send back ``(True, text, asked)`` or ``(False, what went
    wrong, {})``."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = MEMORY_LIMIT if hard == resource.RLIM_INFINITY else min(MEMORY_LIMIT, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        environment = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        text = environment.from_string(template).render(context).strip()
    except Exception as exc:  # the template's own mistakes, MemoryError, RecursionError
        answer.send((False, str(exc) or type(exc).__name__, {}))
    else:
        asked = {name: f.asked for name, f in context.items() if isinstance(f, Lookup)}
        answer.send((True, text, asked))
    finally:
        answer.close()
