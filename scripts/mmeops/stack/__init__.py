"""The embedded stack: moto in server mode (`moto_server`, with `faults`), a throwaway
PostgreSQL cluster (`postgres`, `demo_data`), a local multi-model endpoint (`mme`) and the
demo that runs the whole loop on them. Nothing in the product imports this package."""
