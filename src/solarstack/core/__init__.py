"""Core layer: types and runtime shared by every service (fields, settings, MQTT, discovery,
metrics, health, poller, spool, logging). Imports nothing from protocols/, transports/,
devices/ or services/."""
