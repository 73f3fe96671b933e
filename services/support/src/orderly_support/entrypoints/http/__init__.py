"""The support service's HTTP API, one module per capability: cases and feedback; the order
references both take (``orders``), and the answer to the domain's refusals (``refusals``)."""
