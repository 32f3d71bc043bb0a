"""Head office: the master data, the change log, the REST API and the MQTT bridge."""
