"""Celery queue names, task names and message priorities: what the senders (API, sweeper, workers) and
the Celery app agree on, in a module of its own so each imports it without importing the others."""

CHUNK_QUEUE = "code2asin"
IMAGES_QUEUE = "code2asin-images"

RUN_CHUNK_TASK = "code2asin.run_chunk"
SWEEP_TASK = "code2asin.sweep"
COPY_IMAGE_TASK = "code2asin.copy_image"

#: Redis transport priorities (0 is served first): the sweep overtakes queued chunks
SWEEP_PRIORITY = 0
#: a chunk handed back by a worker shutting down goes before the queued ones (it was started first)
HANDED_BACK_PRIORITY = 1
CHUNK_PRIORITY = 5
