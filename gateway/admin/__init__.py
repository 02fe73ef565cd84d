"""Operating the gateway: quarantine review, the admin HTTP server (metrics, API, pages)."""
