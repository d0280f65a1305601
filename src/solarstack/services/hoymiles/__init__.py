"""Services layer: the Hoymiles reader — DTUs and their microinverters, `solarstack run hoymiles`."""
