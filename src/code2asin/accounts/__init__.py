"""People and API tokens: who may call which route."""
