"""The website's views, one module per area (archive, accounts, members, moderation...)."""
