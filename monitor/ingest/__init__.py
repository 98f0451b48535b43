"""Ingest: validate records against the event and roster schemas and store them once."""
