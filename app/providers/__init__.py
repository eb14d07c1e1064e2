"""LLM provider adapters: one module per wire protocol behind `base.ProviderAdapter`."""
