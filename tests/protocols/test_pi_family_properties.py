"""Every PI-family decoder (PI16, PI17, PI18, PI30, PI41) lets only ProtocolError escape,
whatever bytes arrive for any query it knows or a setter's reply. What a family adds (a valid
CRC around junk, mutated recorded frames, format_fields inverting decode) is in its own
test_pi<NN>_properties.py."""

from __future__ import annotations

from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_errors import decode_or_protocol_error

from solarstack.protocols import pi16, pi17, pi18, pi30, pi41

#: Each family's codec and a setter text whose reply it must also survive.
FAMILIES: dict[str, tuple[ModuleType, tuple[str, ...]]] = {
    "pi16": (pi16, ()),
    "pi17": (pi17, ("SEP01",)),
    "pi18": (pi18, ("POP1",)),
    "pi30": (pi30, ("POP02",)),
    "pi41": (pi41, ("POP02",)),
}
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", FAMILIES)
@FAST
@given(data=st.data())
def test_arbitrary_bytes(name: str, data: st.DataObject) -> None:
    codec, setters = FAMILIES[name]
    queries = sorted(c.text for c in codec.COMMANDS.values() if c.read_only)
    command = data.draw(st.sampled_from([*queries, *setters]))
    decode_or_protocol_error(codec.decode, command, data.draw(st.binary(max_size=200)))
