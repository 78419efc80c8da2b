"""Extract: the warehouse (connection, SQL checks, error classes) → one COPY (`run`) streamed to
`raw.csv` → the split into train/validation/test (`split`, `read`, `scan`, `_fastsplit.c`) with
checksums and lineage; `scaffold` writes a new model's folder from the warehouse catalog."""
