"""Personal data at rest: validators, encrypted records and their HMAC index.

Not a Django app: the abstract models here are made concrete in the accounts
and consultations apps, which own the tables and migrations.
"""
