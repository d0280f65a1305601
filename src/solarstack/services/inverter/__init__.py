"""Services layer: the inverter reader (every inverter family the device registry knows) — `solarstack run inverter`."""
