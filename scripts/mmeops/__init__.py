"""mmeops: a GitOps control plane for Amazon SageMaker multi-model endpoints."""

__version__ = "0.1.0"
