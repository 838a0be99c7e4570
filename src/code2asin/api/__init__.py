"""The REST API (FastAPI): a thin edge over the job and account services."""

from code2asin.api.app import create_app

__all__ = ["create_app"]
