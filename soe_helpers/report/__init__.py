"""Report: formats and display for notebooks, charts, report records, the executive summary, open_week."""
