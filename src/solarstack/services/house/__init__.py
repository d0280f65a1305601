"""Services layer: the house reader (BME280 / BMP280 on I2C, legacy `house/<sensor>` topics): `solarstack run house`."""
