"""Data: the data contract (schemas), loading and validating sources, and the aggregated layer."""
