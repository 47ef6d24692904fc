"""cgroup managers: one interface, a v1 (and hybrid) implementation, v2 to come."""
