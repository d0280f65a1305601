"""Simulators speaking the real wire protocols over pty / TCP, driven by one plant model."""
