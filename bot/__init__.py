"""figbot: collects rule-of-law figures from communities and villages over Telegram."""
