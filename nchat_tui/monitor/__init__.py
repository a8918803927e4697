"""Live observability: the sampler, host figures, query text, troubleshooting trees."""
