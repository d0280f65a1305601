"""Devices layer: the only place a transport meets a protocol. Returns readings."""
