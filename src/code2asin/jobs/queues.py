"""Celery queue names, task names and message priorities: what the senders (API, sweeper, workers) and
the Celery app agree on, in a module of its own so each imports it without importing the others."""

CHUNK_QUEUE = "code2asin"
IMAGES_QUEUE = "code2asin-images"

RUN_CHUNK_TASK = "code2asin.run_chunk"
#: Redis key holding the time (Unix seconds) of the last sweep that ran to its end (beat's sweeper)
SWEEP_HEARTBEAT_KEY = "code2asin:sweeper:last"
COPY_IMAGE_TASK = "code2asin.copy_image"

#: Redis transport priorities (0 is served first). A chunk that was started before goes ahead of the
#: queued ones: handed back by a worker shutting down, or re-sent by the sweeper once the lease of a
#: worker that died expired (else it would wait behind every queued chunk of every job)
STARTED_BEFORE_PRIORITY = 1
CHUNK_PRIORITY = 5
