"""Outbound HTTP to addresses that tenants choose (webhooks, LMS platforms): resolved, checked against the
forbidden address ranges at connect time, redirects never followed into them."""
