"""Services layer: the inverter reader (PI30 family) — `solarstack run inverter`."""
