"""The embedded local mode: redis-server on loopback and warm worker processes standing in for Lambda."""
