"""Use cases: each takes a database session and plain values and returns plain data.

Handlers (Telegram), the CLI and jobs call these; none of them sees an ``Update``.
"""
