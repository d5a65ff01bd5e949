"""What the scheduler and the executors exchange: schedules and invocation payloads."""
