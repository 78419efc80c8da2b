"""The retraining schedule: which models are due (due.py) and the per-model `started` record
that makes each firing of a model's cron run at most once, never twice at once (started.py)."""
