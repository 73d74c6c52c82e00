"""mlplan's version (``pyproject.toml``'s), stamped into every document (``tool.version``) and
printed by ``mlplan --version``; ``mlplan.__version__`` re-exports it. A module of its own at
the bottom of the package, so the renderers need not import the package front."""

__version__ = "0.1.0"
