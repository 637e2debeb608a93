"""The `nut` check: a UPS served by Network UPS Tools (see checks/nut/check.py)."""
