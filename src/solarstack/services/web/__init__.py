"""Service layer: the web UI (Flask, gunicorn gthread) — live dashboards, history, settings console.

Start it with `solarstack run web`; build it in tests with `create_app(settings, store, history)`.
"""
