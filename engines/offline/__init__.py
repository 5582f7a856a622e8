"""Offline tools any renderer can use: motion files, scripted demo motion, MP4 writing, contact sheets.

They depend only on the renderer contract (:class:`xactor.engines.render.base.Renderer`), never on one
renderer, so a new renderer gets ``xactor render`` and contact sheets for free. Modules are
imported on demand (``video`` needs PyAV, ``contact_sheet`` needs Pillow).
"""
