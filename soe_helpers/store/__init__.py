"""Store: the week-over-week database: every table, its readers and its writers."""
