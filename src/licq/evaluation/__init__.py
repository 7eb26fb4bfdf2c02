"""Metrics, rate-distortion sweeps and BD-rate."""
