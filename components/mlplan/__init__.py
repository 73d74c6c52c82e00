"""mlplan: Azure-ML-style online endpoints on Docker or Kubernetes, planned before they move."""

__version__ = "0.1.0"
