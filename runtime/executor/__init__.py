"""Executors: the platform-free core (``core``) and the Lambda handler around it (``handler``)."""
