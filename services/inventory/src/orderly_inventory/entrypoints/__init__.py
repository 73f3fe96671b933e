"""Kafka consumers and HTTP routes: translate, then delegate to handlers."""
