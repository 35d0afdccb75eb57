"""Tenants, API keys and per-tenant limits (``lumograph.access``).

keys.py: tenants and hashed API keys in the service database; quotas.py: token buckets and
daily usage shared by every ingress replica through that database; limits.py: the limits
model (defaults from the Serve config, overrides per tenant in the database); gate.py:
what an ingress asks per request (who is calling, may it go on). No HTTP here: the serve
layer's middleware (``serve/access.py``) turns the gate's answers into headers and errors.
"""
