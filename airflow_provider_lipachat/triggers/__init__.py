"""Triggers of the LipaChat provider."""
