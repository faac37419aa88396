"""Provider-independent domain: model, store, engine, clock, callbacks, validation, scenarios."""
