"""Sensors of the LipaChat provider."""
