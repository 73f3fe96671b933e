"""The notification service's HTTP API, one module per capability: notifications."""
