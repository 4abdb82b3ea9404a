"""The rows a run learns from: datasets, table reading, preprocessing, column checks, the memory budget."""
