"""Callbox call engine: phone lines, headsets, lights, recording and the call store."""
