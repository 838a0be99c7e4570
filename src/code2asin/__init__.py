"""Code2ASIN: supplier barcode files to Amazon ASINs and product data, row for row."""

__version__ = "0.1.0"
