"""The read-only JSON API: FastAPI over the warehouse and its marts, with JWT tokens.

`create_app()` builds the application (`wealth api` serves it with uvicorn). Wealth answers
come from the mart tables only; nothing is recomputed per request.
"""

from wealth_pipeline.api.app import create_app

__all__ = ["create_app"]
