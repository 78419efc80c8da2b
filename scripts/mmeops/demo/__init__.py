"""The demo: the whole GitOps loop on the embedded stack (`run`), with the monitoring act
(`monitor`). Above every stage; the embedded stack (`mmeops.stack`) never imports it."""
