"""Real test peers started on loopback: snmpsim, snmpd, sshd, Prometheus.

A peer that cannot start raises, failing the tests that need it loudly; nothing is skipped.
Every process is started in its own session and stopped by the fixture that started it.
"""
