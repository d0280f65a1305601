"""PI30 firmware variants (protocols/pi30/variants.py): each a delta over the base tables.

Frames and where they came from:
  * recorded: the `test_responses` of jblance/mpp-solar (commit 902b210c) whose CRC bytes
    check — produced by the devices, not by our code: pi30revo.py QPIGS (a REVO unit),
    pi30max.py QPIGS / QPIRI / QPIGS2 (LV6048MAX class), pi30m044.py QPIWS / QMOD (Axpert
    MAX 7.2k), pi30m045.py QDI / QPGS (LV6548). mpp-solar's pi30revo/pi30m044 QPIRI samples
    are byte for byte pi30max's (copied, not from those units), so they are not used as such.
  * constructed (our `reply_frame`, said so at each): REVO QPIRI from the example values in
    the Sorotec REVO protocol document (section 1.1), an MST QPIGS2 with all 12 fields from
    the layout of mpp-solar PR #267, an m044 QPIRI with battery type 9.
The expected values were written from the frame text by hand, field by field.
"""

from __future__ import annotations

import pytest

from solarstack import cli
from solarstack.core.errors import ConfigError
from solarstack.protocols import pi30
from solarstack.protocols.pi30 import commands, variants

REVO_QPIGS = b"(221.0 49.9 221.0 49.9 0000 0707 012 401 00.10 012 000 0026 0000 000.0 00.10 00000 00010000 00 00 00000 010\xe9}\r"  # noqa: E501 (a recorded frame stays on one line)
MAX_QPIGS = b"(227.2 50.0 230.3 50.0 0829 0751 010 447 54.50 020 083 0054 02.7 323.6 00.00 00000 00010110 00 00 00879 010\xf1\x8c\r"  # noqa: E501
MAX_QPIRI = b"(230.0 21.7 230.0 50.0 21.7 5000 4000 48.0 46.0 42.0 56.4 54.0 0 10 010 1 0 0 6 01 0 0 54.0 0 1\x6f\x7e\r"
M044_QPIWS = b"(000000000000000000000000000000000000<\x8e\r"
M044_QMOD = b"(B\xe7\xc9\r"
M045_QDI = b"(230.0 50.0 0030 44.0 54.0 56.4 46.0 60 0 0 2 0 0 0 0 0 1 1 1 0 1 0 54.0 0 1 224\xeb\xbc\r"
M045_QPGS = b"(0 92932105105315 B 00 000.0 00.00 230.0 50.00 0989 0907 012 53.2 009 090 349.8 009 00989 00907 011 10100110 0 1 100 120 030 02 000 275.3 02i]\r"  # noqa: E501


def test_revo_qpigs_recorded_frame_reads_pv_power_and_the_days_energy() -> None:
    values = pi30.decode("QPIGS", REVO_QPIGS, variant="revo")
    # fields 12 and 15 are PV power (W) and the day's PV energy (Wh, published in kWh)
    assert (values["pv_generating_power"], values["inverter_pv_energy_today"]) == (0, 0.0)
    assert (values["ac_output_active_power"], values["battery_charging_current"], values["bus_voltage"]) == (
        707,
        12,
        401,
    )
    assert values["load_on"] is True and values["charging"] is False
    assert values["pv_input_power"] == 0  # field 19
    # REVO sends no PV current, discharge current, fan offset or EEPROM version; 20 is reserved
    assert not {"pv_input_current", "battery_discharge_current", "eeprom_version", "switched_on"} & set(values)
    assert values["extra_20"] == "010"  # kept raw, never lost
    assert "solar_feed_to_grid" not in {f.key for f in pi30.table("QPIGS", "revo")}


def test_revo_qpigs_scales_the_days_energy_to_kwh() -> None:
    payload = (
        "230.0 50.0 230.0 50.0 0000 0736 013 401 50.00 010 081 0026 0622 311.0 53.00 16850 00000110 00 00 00622 010"
    )
    values = pi30.decode("QPIGS", pi30.reply_frame(payload), variant="revo")  # constructed (vendor doc 1.2 values)
    assert (values["pv_generating_power"], values["inverter_pv_energy_today"]) == (622, 16.85)
    assert values["scc_charging"] is True and values["charging"] is True and values["ac_charging"] is False
    assert pi30.format_fields("QPIGS", values, "revo").startswith(payload[:72])


def test_revo_qpiri_constructed_from_the_vendor_document() -> None:
    # constructed: section 1.1's example values, 25 fields
    payload = "230.0 20.0 230.0 50.0 20.0 5500 5500 48.0 44.0 40.0 56.0 54.0 2 60 060 1 0 1 6 01 0 0 52.0 0 1"
    values = pi30.decode("QPIRI", pi30.reply_frame(payload), variant="revo")
    assert values["battery_low_alarm_voltage"] == 44.0  # PI30 reads field 8 as the re-charge voltage
    assert (values["battery_under_voltage"], values["battery_bulk_voltage"], values["battery_float_voltage"]) == (
        40.0,
        56.0,
        54.0,
    )
    assert (values["battery_type"], values["max_ac_charging_current"], values["pv_power_balance"]) == (
        "user",
        60,
        "charge_plus_load",
    )
    assert len(values) == 25 and "battery_recharge_voltage" not in values
    assert "max_discharging_current" not in {f.key for f in pi30.table("QPIRI", "revo")}
    assert pi30.format_fields("QPIRI", values, "revo") == payload


@pytest.mark.parametrize("name", ["mst", "m044", "m045"])
def test_max_class_variants_read_qpigs_as_plain_pi30(name: str) -> None:
    assert pi30.decode("QPIGS", MAX_QPIGS, variant=name) == pi30.decode("QPIGS", MAX_QPIGS)
    assert pi30.table("QPIGS", name) is commands.QPIGS  # no delta: the base table itself


@pytest.mark.parametrize("name", ["mst", "m045"])
def test_max_class_variants_read_qpiri_as_plain_pi30(name: str) -> None:
    assert pi30.decode("QPIRI", MAX_QPIRI, variant=name) == pi30.decode("QPIRI", MAX_QPIRI)


def test_mst_qpigs2_has_pv2_and_pv3() -> None:
    # constructed: the 12-field layout of mpp-solar PR #267 (from the vendor document)
    payload = "03.1 327.3 54.20 01026 00000000 00.0 00000 02.5 301.0 54.20 00750 01776"
    values = pi30.decode("QPIGS2", pi30.reply_frame(payload), variant="mst")
    assert (values["pv2_input_current"], values["pv2_input_voltage"], values["pv2_input_power"]) == (3.1, 327.3, 1026)
    assert (values["pv3_input_current"], values["pv3_input_voltage"], values["pv3_input_power"]) == (2.5, 301.0, 750)
    assert values["pv_total_charging_power"] == 1776
    roles = {f.key for f in pi30.table("QPIGS2", "mst") if f.role == "pv_power"}
    assert roles == {"pv2_input_power", "pv3_input_power"}  # the total would count them twice


def test_m044_qpiri_battery_types_and_charger_priority() -> None:
    # constructed: a MAX 7.2k QPIRI with battery type 9 (third-party lithium) and charger priority 3
    payload = "230.0 30.4 230.0 50.0 30.4 7000 7200 48.0 46.0 42.0 56.4 54.0 9 30 100 0 2 3 9 01 0 0 54.0 0 1 120 0 150"
    values = pi30.decode("QPIRI", pi30.reply_frame(payload), variant="m044")
    assert (values["battery_type"], values["charger_source_priority"]) == ("third_party_lithium", "solar_only")
    assert pi30.decode("QPIRI", MAX_QPIRI, variant="m044")["charger_source_priority"] == "undefined"
    assert pi30.decode("QPIRI", MAX_QPIRI)["charger_source_priority"] == "utility"  # base unchanged


def test_m044_recorded_qpiws_has_36_bits_and_qmod_bypass() -> None:
    values = pi30.decode("QPIWS", M044_QPIWS, variant="m044")
    assert len(values) == 33 and not any(values.values())
    assert {"battery_weak_code1", "battery_weak_code2", "battery_equalization"} <= set(values)
    assert pi30.decode("QMOD", M044_QMOD, variant="m044") == {"mode": "battery"}
    assert pi30.decode("QMOD", pi30.reply_frame("C"), variant="m044") == {"mode": "bypass"}  # constructed
    assert pi30.decode("QMOD", pi30.reply_frame("C")) == {"mode": "C"}  # base: kept raw
    # written back 36 wide, with the added bits in their places
    assert pi30.format_fields("QPIWS", {"battery_equalization": True}, "m044") == "0" * 35 + "1"


def test_m045_recorded_qdi_and_qpgs_number_charger_priority_without_utility() -> None:
    qdi = pi30.decode("QDI", M045_QDI, variant="m045")
    assert qdi["default_charger_source_priority"] == "solar_only"  # "2"
    assert pi30.decode("QDI", M045_QDI)["default_charger_source_priority"] == "solar_and_utility"
    qpgs = pi30.decode("QPGS0", M045_QPGS, variant="m045")
    assert qpgs["charger_source_priority"] == "solar_and_utility"  # "1"
    assert (qpgs["serial_number"], qpgs["battery_voltage"], qpgs["pv2_input_voltage"]) == (
        "92932105105315",
        53.2,
        275.3,
    )
    assert pi30.find_variant("m045").short_clock  # DAT yymmddhhmmss


def test_every_delta_names_real_commands_and_base_keys() -> None:
    for variant in pi30.VARIANTS.values():
        for name, delta in variant.deltas.items():
            base = {f.key for f in commands.COMMANDS[name].fields}
            assert delta.drop <= base, (variant.name, name, delta.drop - base)
            assert delta.rows or delta.drop, (variant.name, name)
            derived = variants.by_name(name, variant.name).fields
            assert len({(f.key) for f in derived}) == len(derived), (variant.name, name)  # keys stay unique


def test_derive_replaces_by_key_drops_and_adds_in_position_order() -> None:
    base = commands.QPIGS2
    delta = variants.Delta(
        rows=(base[1]._replace(unit="kV"), commands.num("x", 1, "V", "04.1f")), drop=frozenset({base[0].key})
    )
    derived = variants.derive(base, delta)
    assert [f.key for f in derived] == [base[1].key, "x", base[2].key]
    assert derived[0].unit == "kV"


def test_unknown_variant_is_a_config_error_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown PI30 variant 'axpert'; known: revo, mst, m044, m045"):
        pi30.decode("QPIGS", MAX_QPIGS, variant="axpert")
    with pytest.raises(ConfigError, match="known: revo"):
        pi30.table("QPIGS", "axpert")


def test_variants_are_named_case_insensitively_and_none_is_the_base() -> None:
    assert pi30.decode("QPIGS", REVO_QPIGS, variant="REVO") == pi30.decode("QPIGS", REVO_QPIGS, variant="revo")
    assert pi30.lookup("QPIGS", None) is commands.lookup("QPIGS")
    assert pi30.table("QPGS3", "m045") == pi30.table("QPGS0", "m045")


def test_cli_decodes_with_a_variant_both_ways(capsys: pytest.CaptureFixture[str]) -> None:
    hexed = REVO_QPIGS.hex()
    assert (
        cli.main(["decode", "--protocol", "pi30", "--variant", "revo", "--command", "QPIGS", "--hex", hexed, "--json"])
        == 0
    )
    by_flag = capsys.readouterr().out
    assert '"pv_generating_power":0' in by_flag and "pv_input_current" not in by_flag
    assert cli.main(["decode", "--protocol", "pi30:revo", "--command", "QPIGS", "--hex", hexed, "--json"]) == 0
    assert capsys.readouterr().out == by_flag
    assert cli.main(["decode", "--protocol", "pi30:nope", "--command", "QPIGS", "--hex", hexed]) == 2
    assert "unknown PI30 variant 'nope'" in capsys.readouterr().err
    assert cli.main(["encode", "--protocol", "pi30", "--variant", "mst", "QPIGS2"]) == 0
    assert capsys.readouterr().out.strip() == pi30.encode("QPIGS2").hex(" ").upper()
    assert cli.main(["decode", "--protocol", "pi18:revo", "--command", "GS", "--hex", "00"]) == 2
    assert "only pi30" in capsys.readouterr().err
