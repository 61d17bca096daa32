"""The text the database's full-text search reads: one row per archived message.

Kept apart from groups.Message so the archive's own table carries no search
columns; the engine-specific parts (an FTS5 table on SQLite, a generated
tsvector column with a GIN index on PostgreSQL) are added by ``search.schema``.
A message deleted as a row takes its document with it (CASCADE), and the
SQLite triggers take the FTS5 entry with the document.
"""

from __future__ import annotations

from django.db import models


class Document(models.Model):
    message = models.OneToOneField("groups.Message", primary_key=True, on_delete=models.CASCADE,
                                   related_name="search_document")
    group = models.ForeignKey("groups.Group", on_delete=models.CASCADE, related_name="+")
    date = models.DateTimeField()
    subject = models.TextField()
    body = models.TextField()
    author = models.TextField(help_text="'Name <address>' as shown and searched.")
    author_email = models.CharField(max_length=320, help_text="Lower case, for exact filters.")
    # A message's attachments come and go only with the message, so the flag never goes
    # stale; on the document, the filter's few ids are read from one small partial index
    # (with their groups) instead of a document look-up per attachment.
    has_attachment = models.BooleanField(default=False, db_default=False)

    class Meta:
        db_table = "search_document"
        indexes = [
            models.Index(fields=["group", "date"], name="search_doc_group_date"),
            # Searches with filters and no words: the newest first, or one author's.
            models.Index(fields=["date"], name="search_doc_date"),
            models.Index(fields=["author_email", "date"], name="search_doc_author_date"),
            # The has-attachment filter's documents, newest first, with what the privacy
            # rule reads (the group): read from the index alone (dbsearch.filtered_ids).
            models.Index(fields=["message", "group"], condition=models.Q(has_attachment=True),
                         name="search_doc_attachment"),
        ]
