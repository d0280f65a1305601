"""Services layer: the collector — every reader's MQTT state into InfluxDB — `solarstack run collector`."""
