"""The payment service's HTTP API, one module per capability: payments and provider webhooks."""
