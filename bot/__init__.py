"""figbot: collects rule-of-law figures from communities and villages over Telegram."""

import os

# Opt in to python-telegram-bot's timedelta durations (e.g. RetryAfter.retry_after) now; the
# int form is deprecated and warns on every access.
os.environ.setdefault("PTB_TIMEDELTA", "true")
