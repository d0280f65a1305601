"""Services layer: the bms reader — JK (BLE and RS485), Daly and Victron packs over MQTT."""
