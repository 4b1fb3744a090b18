"""Deliver: the leadership email and sending it."""
