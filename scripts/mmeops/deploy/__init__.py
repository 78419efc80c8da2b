"""Deployment: an environment file (`desired`) and what is live (`remote`) become a plan of
typed actions (`planner`, `actions`); `executor` (with `endpoint`) is the only code that
mutates AWS. Also the routing manifest, the lease, `promote`, `invoke` and rendering."""
