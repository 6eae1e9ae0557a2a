"""Usage analytics for a multi-tenant CRM platform: the domain, no UI."""
