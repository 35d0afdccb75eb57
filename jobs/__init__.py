"""Asynchronous batch jobs: durable state, storage, workers, webhooks and bulk runs."""
