"""Automatic call distribution: queues, staff states and routing decisions (pure, no I/O)."""
