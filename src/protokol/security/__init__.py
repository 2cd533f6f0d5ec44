"""Denied access: journal entries, alerts on repeated denials and their report."""
