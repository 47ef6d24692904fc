"""Containers: the state machine, the state store and the lifecycle operations."""
