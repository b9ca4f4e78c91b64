"""Connectors to centres' availability feeds. Each returns plain data; the
refresh service (scheduling.services.feeds) decides what to write."""
