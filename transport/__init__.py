"""The MQTT adapter used by both sides (paho-mqtt); knows nothing of central or stores."""
