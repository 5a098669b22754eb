"""The HTTP toolkit every router stands on: dependencies (`Annotated` providers), roles, limits, problem-details
errors, security headers, cursor pages, request schemas and event streams. It imports the domain and the settings,
never a capability or the app."""
