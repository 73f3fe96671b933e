"""The analytics service's HTTP API, one module per capability: order stages and KPIs."""
