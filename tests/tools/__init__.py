"""Maintenance scripts that regenerate shipped data files (run by hand, not by pytest)."""
