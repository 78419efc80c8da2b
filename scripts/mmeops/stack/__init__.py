"""The embedded world: moto in server mode (`moto_server`, with strict requests and `faults`),
a throwaway PostgreSQL cluster seeded with the demo tables (`postgres`, `demo_data`) and a local
multi-model endpoint (`mme`). It imports no stage, no demo and no cli; nothing in the product
imports it but `cli.stack_cmds`, `cli.demo_cmds` and `mmeops.demo`."""
