"""The support service's tables and repositories, one module per capability."""
