"""Mentions and automatic retrieval (features/knowledge.py) over a real index."""

from __future__ import annotations

from pathlib import Path

from coding_director.context import DocumentStore
from coding_director.features.knowledge import KnowledgeService, parse_mentions
from coding_director.settings import Settings

PRICING = '''\
def base_price(item):
    """List price of an item."""
    return item.list_price


def checkout(cart):
    """Total of a cart after tax."""
    return sum(base_price(item) for item in cart) * 1.2
'''
ORDERS = '''\
from pricing import checkout


def place_order(cart, user):
    """Charge the user for the cart."""
    return user.charge(checkout(cart))
'''


def test_parse_mentions() -> None:
    m = parse_mentions('@codebase where is @symbol Session.send used with @file "src/a b.py" and @file x.py?')
    assert m.codebase and m.symbols == ["Session.send"] and m.files == ["src/a b.py", "x.py"]
    assert m.question == "where is used with and"
    assert parse_mentions("email me@codebase.org").codebase is False


async def service(tmp_path: Path) -> tuple[KnowledgeService, Path]:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "pricing.py").write_text(PRICING, encoding="utf-8")
    (ws / "orders.py").write_text(ORDERS, encoding="utf-8")
    knowledge = KnowledgeService(Settings(index={"cache_dir": str(tmp_path / "cache")}))
    summaries = await knowledge.open_folders([ws])
    assert summaries[0].files == 2
    return knowledge, ws


async def test_file_and_symbol_mentions_become_sources(tmp_path: Path) -> None:
    knowledge, ws = await service(tmp_path)
    gathered = await knowledge.gather("explain @file orders.py and @symbol base_price and @file nope.py")
    assert [(s.path, s.start_line, s.end_line) for s in gathered.sources] == [("pricing.py", 1, 3),
                                                                              ("orders.py", 1, 6)]
    assert gathered.sources[0].uri == (ws / "pricing.py").resolve().as_uri()
    assert "`pricing.py:1-3`" in gathered.text and "def place_order(cart, user):" in gathered.text
    assert gathered.notes == ["@file nope.py: no such file in the workspace"]
    knowledge.close()


async def test_explain_retrieves_called_definitions_and_callers(tmp_path: Path) -> None:
    knowledge, ws = await service(tmp_path)
    store = DocumentStore()
    uri = (ws / "pricing.py").resolve().as_uri()
    store.open(uri, PRICING)
    gathered = await knowledge.gather("Explain this", intent="explain", store=store, uri=uri, focus=(6, 8))
    spans = [(s.path, s.start_line) for s in gathered.sources]
    assert ("pricing.py", 1) in spans  # base_price: called by the focus
    assert ("orders.py", 4) in spans  # place_order: calls the focus
    assert ("pricing.py", 6) not in spans  # the focus itself is already in the prompt
    nothing = await knowledge.gather("Explain this", intent="generate", store=store, uri=uri, focus=(6, 8))
    assert nothing.sources == []  # no mention, not an automatic intent
    knowledge.close()


async def test_edit_in_memory_is_seen_by_the_next_retrieval(tmp_path: Path) -> None:
    knowledge, ws = await service(tmp_path)
    knowledge.changed((ws / "orders.py").resolve().as_uri(), ORDERS + "\n\ndef refund_order(order):\n    return 0\n")
    hits = await knowledge.search("refund_order")  # applies the debounced edit first
    assert hits[0][1].name == "refund_order"
    knowledge.close()
