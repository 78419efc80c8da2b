"""The front door: call a model by name (docs/calling-a-model.md).

One code path (front_door.py) deployed two ways: an AWS Lambda handler behind a Function URL
(lambda_handler.py, payload format 2.0) and a local HTTP server (server.py, `mmeops invoker`).
It reads the routing manifest (deploy/manifest.py's format) and nothing imports it but the CLI.
"""
