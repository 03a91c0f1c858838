"""Simulating caseloads: a calibrated synthetic cohort run through one or more
authorities' policies, side by side, into SQLite (``cinflow simulate``)."""

from .runner import Parameters, simulate

__all__ = ["Parameters", "simulate"]
