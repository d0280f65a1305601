"""Protocols layer: PURE codecs (bytes <-> readings) described by field tables.

No I/O, no logging setup, no imports from transports/, devices/ or services/.
"""
