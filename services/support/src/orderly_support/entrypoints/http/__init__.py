"""The support service's HTTP API, one module per capability: cases, feedback and the
after-sales report; the order references cases and feedback take (``orders``), and the
answer to the domain's refusals (``refusals``)."""
