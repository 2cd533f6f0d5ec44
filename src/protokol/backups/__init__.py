"""Encrypted, verifiable backups of the database, the data files and the journal."""
