"""Storage: the metadata store, the KV store, key formats and serialization."""
