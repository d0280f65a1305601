"""Transports layer: bytes in and out behind one small interface (see base.py).

Transports know nothing about any protocol: never import from protocols/.
"""
