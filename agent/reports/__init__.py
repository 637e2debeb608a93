"""The office's reports, written from the store: the daily checklist (more with the next issues)."""
