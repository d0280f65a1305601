"""Services layer: one sub-package per container (inverter, bms, house, weather, collector, web)."""
