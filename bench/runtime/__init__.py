"""``make bench-runtime``: Darkroom's workflow runtime against Celery canvas on the same Redis.

``run`` is the entry point; ``celery_side`` runs inside the peers' venv; ``darkroom_side`` is the
adapter to the runtime under test.
"""
