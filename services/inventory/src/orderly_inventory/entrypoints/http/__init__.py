"""The inventory service's HTTP API: one module per capability, as in use_cases/."""
