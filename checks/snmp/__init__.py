"""SNMP probes: a lean v2c codec for the hot path, pysnmp for SNMPv3 and SET, YAML device profiles."""
