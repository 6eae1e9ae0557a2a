"""Snapshot collection from the live sources: S3 and the records database.

``config`` reads the settings, ``storage`` and ``records`` measure one client
each, ``runner`` computes and stores many clients in a bounded pool, ``runs``
keeps each client's last run (and the trigger's rate limit) in the database,
and ``trigger`` is the admin trigger behind ``POST /api/v1/collect/trigger``.
"""
