"""The Redis broker and the two bench workers of tests/queue/test_celery_redis.py, shared by
every test of the queue (``harness qualify --queue`` uses the same benches)."""

from tests.queue.test_celery_redis import benches, redis_url

__all__ = ["benches", "redis_url"]
