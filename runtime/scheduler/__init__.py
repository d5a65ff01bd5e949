"""The static scheduler: DAG building, schedule generation, leaf invocation, the result listener."""
