"""Services layer: the weather reader (Open-Meteo) and its learning PV forecast — `solarstack run weather`."""
