"""The browser client (``index.html``, ``app.js``, ``style.css``; no build step).

A package only so that its files install as package data with the server and are found through
``importlib.resources`` (see :mod:`xactor.server.web`); there is no Python code here.
"""
