"""The Serve tests' HTTP client: a requests session that carries the test tenant's API key
(the session cluster's fixture issues it). ``requests`` itself sends no key."""
import requests

#: Every keyed call of the tests goes through this session.
api = requests.Session()
#: The API key of the test tenant (set by the ``serve_url`` fixture).
TENANT = "tests"
