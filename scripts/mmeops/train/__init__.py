"""Training: warehouse → extract (and its split) → tune (history, warm start, the local and
SageMaker backends) → evaluate → gate → register in the Model Registry; `retrain` runs the
three, `due` says which models a schedule wants. Shares only formats with `deploy`."""
