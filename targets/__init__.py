"""The bundled target lists (TOML, data only), installed as the package `probe.bundled_targets`; see README.md."""
