"""The dashboard's pages: HTML and htmx fragments over the core API.

An adapter: mounted by the extension (:mod:`jobboard.extension`), built on the shared Flask
layer (:mod:`jobboard.shared`), and never importing the JSON API or the CLI. The blueprint
is :data:`jobboard.web.views.blueprint`.
"""
