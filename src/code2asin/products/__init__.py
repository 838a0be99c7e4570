"""The products catalogue: one product per (supplier, GTIN), owning its stored images."""
