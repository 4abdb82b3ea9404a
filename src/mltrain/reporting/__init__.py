"""What people read about runs: records read back, ranked tables, plots, the curve diagnosis, sweep tables."""
