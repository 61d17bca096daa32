"""Elasticsearch / OpenSearch search, used when ELASTICSEARCH_URL is set.

The client is the official ``elasticsearch`` package, or ``opensearch-py`` when
SEARCH_CLIENT=opensearch (the two speak the same REST API for everything used
here, but each refuses the other's server). Indexing is bulk; the mapping
gives subject and body an English analyzer (standard tokenizer, lower case,
accent folding, stemming) with an exact-word subfield, and keeps
group, author address and hashtags as keywords so filters are exact, and
whether a message has attachments as a boolean (an index made before that
field existed lacks it: run `manage.py reindex` once so the filter finds them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from groups.models import Message
from search import querysyntax
from search.backend import COUNT_CAP, MARK_END, MARK_START, Query, author_of, body_of

# Plain-text markers: osmem and some OpenSearch versions mangle control characters.
HL_START = "\u27e6hl\u27e7"
HL_END = "\u27e6/hl\u27e7"

INDEX_BODY: dict[str, Any] = {
    "settings": {
        "analysis": {
            "filter": {
                "english_stemmer": {"type": "stemmer", "language": "english"},
            },
            "analyzer": {
                "archive_text": {
                    "type": "custom", "tokenizer": "standard",
                    # No possessive_english filter: osmem (the test engine) then
                    # matches every document; the English stemmer covers plurals.
                    "filter": ["lowercase", "asciifolding", "english_stemmer"],
                },
                "archive_exact": {"type": "custom", "tokenizer": "standard",
                                  "filter": ["lowercase", "asciifolding"]},
            },
            "normalizer": {"lower": {"type": "custom", "filter": ["lowercase"]}},
        },
    },
    "mappings": {
        "properties": {
            "group_id": {"type": "integer"},
            "group": {"type": "keyword"},
            "topic_id": {"type": "long"},
            "number": {"type": "integer"},
            "subject": {"type": "text", "analyzer": "archive_text",
                        "fields": {"exact": {"type": "text", "analyzer": "archive_exact"}}},
            "body": {"type": "text", "analyzer": "archive_text",
                     "fields": {"exact": {"type": "text", "analyzer": "archive_exact"}}},
            "author": {"type": "text", "analyzer": "archive_exact"},
            "author_email": {"type": "keyword", "normalizer": "lower"},
            "hashtags": {"type": "keyword", "normalizer": "lower"},
            "has_attachment": {"type": "boolean"},
            "date": {"type": "date"},
        },
    },
}


def make_client(url: str, client: str):
    if client == "opensearch":
        from opensearchpy import OpenSearch

        return OpenSearch(hosts=[url], timeout=30)
    from elasticsearch import Elasticsearch

    return Elasticsearch(url, request_timeout=30)


def _bulk(client, actions: list[dict]) -> tuple[int, list]:
    if type(client).__module__.startswith("opensearchpy"):
        from opensearchpy.helpers import bulk
    else:
        from elasticsearch.helpers import bulk
    return bulk(client, actions, raise_on_error=False, refresh="wait_for")


class ElasticBackend:
    name = "elasticsearch"

    def __init__(self, url: str, client: str = "elasticsearch",
                 index_name: str = "groups-messages") -> None:
        self.client = make_client(url, client)
        self.index_name = index_name
        self._ready = False

    def ensure_index(self) -> None:
        if self._ready:
            return
        if not self.client.indices.exists(index=self.index_name):
            self.client.indices.create(index=self.index_name, body=INDEX_BODY)
        self._ready = True

    def document(self, message: Message) -> dict:
        return {
            "group_id": message.group_id, "group": message.group.name,
            "topic_id": message.topic_id, "number": message.number,
            "subject": message.subject, "body": body_of(message),
            "author": author_of(message), "author_email": message.sender_email.lower(),
            "hashtags": [h.name for h in message.topic.hashtags.all()],
            "has_attachment": bool(message.attachments.all()),  # prefetched in bulk
            "date": message.date.isoformat(),
        }

    def index(self, message: Message) -> None:
        self.index_many([message])

    def index_many(self, messages: Iterable[Message]) -> int:
        self.ensure_index()
        actions = []
        for m in messages:
            if m.deleted:
                actions.append({"_op_type": "delete", "_index": self.index_name, "_id": m.pk})
            else:
                actions.append({"_op_type": "index", "_index": self.index_name, "_id": m.pk,
                                "_source": self.document(m)})
        if not actions:
            return 0
        ok, errors = _bulk(self.client, actions)
        real = [e for e in errors if next(iter(e.values())).get("status") != 404]
        if real:
            raise RuntimeError(f"bulk indexing failed for {len(real)} messages: {real[:3]}")
        return sum(1 for a in actions if a["_op_type"] == "index")

    def remove(self, message_id: int) -> None:
        self.ensure_index()
        _bulk(self.client, [{"_op_type": "delete", "_index": self.index_name,
                             "_id": message_id}])

    def missing(self, message_ids: list[int]) -> set[int]:
        self.ensure_index()
        found = self.client.search(index=self.index_name, body={
            "query": {"ids": {"values": [str(pk) for pk in message_ids]}},
            "_source": False, "size": len(message_ids)})
        return set(message_ids) - {int(hit["_id"]) for hit in found["hits"]["hits"]}

    def clear(self, group_id: int | None = None) -> None:
        self.ensure_index()
        match = {"match_all": {}} if group_id is None else {"term": {"group_id": group_id}}
        self.client.delete_by_query(index=self.index_name, body={"query": match},
                                    refresh=True)

    def search(self, query: Query) -> tuple[int, list[tuple[int, str]]]:
        self.ensure_index()
        filters: list[dict] = [{"terms": {"group_id": list(query.group_ids)}}]
        if query.hashtag:
            filters.append({"term": {"hashtags": query.hashtag.lstrip("#").lower()}})
        if query.author:
            if "@" in query.author:
                filters.append({"term": {"author_email": query.author.strip().lower()}})
            else:
                filters.append({"match_phrase": {"author": query.author.strip()}})
        if query.has_attachment:
            filters.append({"term": {"has_attachment": True}})
        dates = {}
        if query.date_from is not None:
            dates["gte"] = query.date_from.isoformat()
        if query.date_to is not None:
            dates["lt"] = query.date_to.isoformat()
        if dates:
            filters.append({"range": {"date": dates}})
        terms = querysyntax.parse(query.text)
        must: list[dict] = []
        sort: list = ["_score", {"date": "desc"}]
        if querysyntax.positive(terms):
            must.append({"simple_query_string": {
                "query": querysyntax.to_simple_query_string(terms),
                "fields": ["subject^6", "author^2", "body"],
                "default_operator": "and", "flags": "PHRASE|PREFIX|NOT|WHITESPACE"}})
        else:
            sort = [{"date": "desc"}]
        body = {
            "query": {"bool": {"must": must or [{"match_all": {}}], "filter": filters}},
            "from": query.offset, "size": query.per_page,
            "track_total_hits": COUNT_CAP + 1,  # "more than 1,000", as the database backends
            "sort": sort, "_source": False,
            "highlight": {"pre_tags": [HL_START], "post_tags": [HL_END],
                          "fields": {"body": {"fragment_size": 160, "number_of_fragments": 1,
                                              "no_match_size": 160}}},
        }
        found = self.client.search(index=self.index_name, body=body)
        total = found["hits"]["total"]
        total = total["value"] if isinstance(total, dict) else int(total)
        rows = []
        for hit in found["hits"]["hits"]:
            snippet = " … ".join(hit.get("highlight", {}).get("body", []))
            snippet = (snippet.replace(MARK_START, "").replace(MARK_END, "")
                       .replace(HL_START, MARK_START).replace(HL_END, MARK_END))
            rows.append((int(hit["_id"]), snippet))
        return total, rows
