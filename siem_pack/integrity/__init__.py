"""Cross-cutting (integrity): tamper-evident evidence. Sealed event windows and a verifier.

canonical (the bytes of an event) → merkle (a tree per window) → seals (signed, chained
window seals, built by `seal_windows`) stored by store_duckdb / store_es, anchored by head
(the signed head file outside the store, `seal_anchored`), checked by verify. Keys live in
keys. See docs/integrity.md.
"""
