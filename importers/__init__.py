"""Importers: bring archives from elsewhere (mbox files) into a group.

An importer stands beside the edges: it calls messageserver's public functions
(parse, find the topic, archive) and search's indexing, and nothing imports it but
the management commands.
"""
