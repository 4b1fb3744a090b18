"""Demo: the built-in demo company, its PostgreSQL loader and the benchmark. Not used by a company's run."""
