"""Services layer: one sub-package per container (today inverter, bms, web; registry.py lists
them), the generic reader (reader.py) and the wiring every reader service shares (wiring.py)."""
