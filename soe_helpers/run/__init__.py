"""Run: the weekly run: the runner, notebook execution and HTML conversion."""
