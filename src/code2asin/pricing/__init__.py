"""Competitive price tracking: trackers, scheduled re-pricing runs, price history, alerts and webhooks."""
