"""The SNMP check and its YAML device profiles (the transport is `agent/transports/snmp/`)."""
