"""The order service's HTTP API, one module per capability: orders, returns, claims."""
