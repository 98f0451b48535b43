"""Notification channels behind one small interface (email, SMS, group robots, webhook, console).

The channels arrive with the notification work; see docs/architecture.md.
"""
