"""Monitoring the models an environment serves: data quality against the served version's
baseline, model quality against its gate (docs/monitoring.md).

window (the rows after the training data) → distance → checks → history → report, and
`run.monitor()` over all of them. The baselines themselves are made at registration
(register/baseline.py, register/statistics.py): train cannot import this package.
"""
