"""aicluster: builds a Kubernetes platform for AI workloads and proves its conformance."""

__version__ = "0.1.0"
