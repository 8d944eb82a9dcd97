"""Reliability: damaged input, drifting streams, interrupts, bounded memory."""
