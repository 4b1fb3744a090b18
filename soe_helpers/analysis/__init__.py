"""Analysis: the business rules of every report, pure functions on DataFrames."""
