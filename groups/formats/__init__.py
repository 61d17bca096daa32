"""Date and number formats of our own, per language (settings.FORMAT_MODULE_PATH).

Only English is ours: day-month-year with a 24-hour clock, as the site always wrote
dates, instead of Django's American defaults. German and French use Django's formats.
"""
