"""figbot's domain logic: plain functions over plain values, no Telegram, no database sessions.

Kept apart so parsing, periods and round rules are testable without a bot and could serve
another channel (CLI, web form).
"""
