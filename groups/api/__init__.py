"""The public REST API, /api/v1/ (django-ninja): scripts and integrations act as a user.

Every call is authorised exactly as the same user on the website
(groups.web.access decides, here as there); a key may narrow that further
(read-only, one group). Errors are JSON naming the field, never HTML.
The schema is served at /api/v1/openapi.json and browsable at /api/v1/docs.
"""
