"""Tune: the history of tuning jobs, the warm-start plan, and one backend interface
(`backend`) that `run` calls, with two backends: `local` (optuna in-process) and `sagemaker`
(a tuning job, `tuning_job`; or one training job for a recalibration, `training_job`)."""
