"""Values for a format_fields -> decode round trip, one per row of a PI-family table: a bool
for a bit, one of its labels for an enum, digits for text, and for a number a whole count of
the wire's unit (`scale`: QBEQI's days published as hours) — negative too where the row's
format carries a sign (`+04d`). Each family's test_pi<NN>_properties.py draws from it."""

from __future__ import annotations

from hypothesis import strategies as st

from solarstack.core.fields import FieldTable, Kind, Value

DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=14)


def row_values(
    data: st.DataObject, fields: FieldTable, *, top: int = 9999, text: st.SearchStrategy[str] = DIGITS
) -> dict[str, Value]:
    values: dict[str, Value] = {}
    for f in fields:
        if f.kind is Kind.BOOL:
            values[f.key] = data.draw(st.booleans())
        elif f.kind is Kind.ENUM and f.options:
            values[f.key] = data.draw(st.sampled_from(sorted(set(f.options.values()))))
        elif f.kind is Kind.TEXT:
            values[f.key] = data.draw(text)
        else:
            signed = (f.fmt or "").startswith("+")
            raw = data.draw(st.integers(-top if signed else 0, top))
            values[f.key] = round(raw * f.scale, 6) if f.kind is Kind.FLOAT else round(raw * f.scale)
    return values
