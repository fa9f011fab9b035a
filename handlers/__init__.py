"""Telegram handlers, one module per feature. Thin: parse the update, call a service, reply."""
