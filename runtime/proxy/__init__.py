"""The KV-store proxy: a long-running process that invokes large fan-outs in parallel."""
