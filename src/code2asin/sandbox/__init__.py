"""Local HTTP simulator of Amazon (Creators API, SP-API Catalog Items + Pricing, image CDN).

See ``server.SandboxServer`` and ``catalogue`` for the generated catalogue.
"""
