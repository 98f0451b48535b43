"""The demo district: a realistic roster and a year of its events, generated deterministically."""
