"""Configuration: the three config kinds (`mmeops.yaml`, `models/<name>/model.yaml`,
`environments/<env>.yaml`), loading a repository of them with YAML positions for error
messages, and the JSON schemas written from them. Imports nothing of the stages."""
