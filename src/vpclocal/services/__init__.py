"""One package per AWS service; each exposes a Provider with one method per operation."""
