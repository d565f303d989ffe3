"""Administration: tenants, credentials and imports, on a database or a live server."""
