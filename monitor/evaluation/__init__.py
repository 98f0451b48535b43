"""The evaluation: from events, roster and calendar to the duties owed and the alerts they call for,
in full or continued from the last tick."""
