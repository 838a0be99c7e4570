"""Jobs: models, lifecycle, the chunk runner and statistics."""
