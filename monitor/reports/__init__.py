"""What people read about a month: the report per unit, its files and mail, the status page and the
one on-time rate they share."""
