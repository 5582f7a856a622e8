"""Scale-out on Ray Serve (optional extra ``cluster``): an ingress deployment with the same HTTP and
WebSocket API, and one worker replica per device, each running the single-process app in-process.

- :mod:`.tunnel`: the worker side; runs HTTP requests and WebSocket sessions against the app (ASGI).
- :mod:`.calls`: what the ingress sends a worker, and the routing hint the router reads.
- :mod:`.router`: the Serve request router: places new sessions by free slots, pins follow-ups.
- :mod:`.worker`: the worker deployment (routing stats, health check, drain).
- :mod:`.ingress`: the ingress deployment (forwarding, ``/health`` of every replica, merged metrics).
- :mod:`.launch`: start it (``xactor serve --ray local|ADDRESS``).

Only :mod:`.router`, :mod:`.worker`, :mod:`.ingress` and :mod:`.launch` import Ray.
"""
