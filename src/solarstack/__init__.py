"""solarstack: monitoring and control for solar homes (inverter, BMS, house, weather) over MQTT."""

__version__ = "0.1.0"
