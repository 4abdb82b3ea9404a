"""The training rows' profile (``profile.json``) and the drift of new rows from it."""
