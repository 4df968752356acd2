"""Outbound HTTP to addresses that tenants choose (webhooks, LMS platforms, did:web documents): resolved,
checked against the forbidden address ranges at connect time, redirects never followed into them.

The API (docs/outbound.md):

- `client(settings) -> httpx.Client`, `async_client(settings) -> httpx.AsyncClient`: every connection
  goes to an address the guard checked (settings.outbound_allow lifts the rule for what it names).
- `request(settings, method, url, http=None, max_redirects=None, **httpx_options) -> httpx.Response`:
  redirects followed by hand, each hop judged.
- `check_destination(settings, url)`: judge a URL when it is configured (raises DestinationRefused).
- `DestinationRefused` (a ValueError with `.rule`): what every refusal raises.
"""

from grader.core.netpolicy import DestinationRefused
from grader.outbound.client import async_client, check_destination, client, request
from grader.outbound.guard import Guard, Resolver, system_resolver

__all__ = [
    "DestinationRefused",
    "Guard",
    "Resolver",
    "async_client",
    "check_destination",
    "client",
    "request",
    "system_resolver",
]
