"""The training engine: one Lightning module for every model, run folders, loggers."""
