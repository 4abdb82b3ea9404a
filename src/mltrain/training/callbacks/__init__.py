"""Trainer callbacks: the base class, progress, early stopping, the run-file writers, tracker loggers."""
