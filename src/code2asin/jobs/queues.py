"""Celery queue names (a module of its own so the CLI can name them without importing the job code)."""

CHUNK_QUEUE = "code2asin"
IMAGES_QUEUE = "code2asin-images"
