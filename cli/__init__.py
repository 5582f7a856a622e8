"""The ``xactor`` command line: the one front door to the server, avatars, rendering, export and benchmarks.

It sits on top of everything (engines ← server, export, training ← bench ← cli) so no other
package ever imports it. Heavy imports (torch, MediaPipe, PyAV) stay inside the commands so
``xactor --help`` answers at once.
"""
