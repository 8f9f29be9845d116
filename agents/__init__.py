"""The edges: Faust app and agents, Kafka admin, sinks, metrics and the `tagstream` CLI."""
