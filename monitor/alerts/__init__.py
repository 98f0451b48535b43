"""The alert lifecycle and its notifications: fire, climb, silence, acknowledge, and the outbox that
carries every message."""
