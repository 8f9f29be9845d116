"""The serving layer: current tags and audiences in Redis, lookups over HTTP."""
