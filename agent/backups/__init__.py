"""Backups (S.04.04.01.02_P, copias de respaldo and recuperación): the asset matrix, the backends
that run the jobs, the service that runs them on their calendar, the tape inventory and custody."""
