"""errord: the platform's error log.

Every process ships its errors and uncaught exceptions here (``errord.handler``,
installed by ``errord.install``); errord groups them by fingerprint so a person
sees at once what crashed, where and how often (``manage.py errors``).

errord must never be a reason for another process to fail: the handler drops
errors (and counts them) rather than block or crash its host.
"""
