"""Writes of the scheduling app (``<entity>_<verb>`` functions).

- :mod:`scheduling.services.feeds`: refresh a centre's availability, feed state, dispatch.
- :mod:`scheduling.services.booking`: hold, book, release, cancel.
- :mod:`scheduling.services.centres`: what a centre manager edits.
"""
