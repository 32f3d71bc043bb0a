"""Central's MQTT bridge: the publisher of changes and the ingester of store batches."""
