"""Kafka consumers, HTTP routes, jobs and commands: translate, then delegate to the use cases."""
