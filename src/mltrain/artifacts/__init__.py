"""What a run leaves behind for people: the summary (and, later, plots and reports)."""
