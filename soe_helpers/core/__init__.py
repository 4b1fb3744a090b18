"""Core: paths, params, the calendar, frames and formats. Imports nothing else of the package."""
