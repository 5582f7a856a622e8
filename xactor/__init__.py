"""xactor: a real-time streaming avatar server (X-Actor, arXiv 2508.02944).

The one name the project installs. Its parts keep their folders at the top of the repository and
are mapped under this package when installed (setup.py): ``xactor.server``, ``xactor.engines``,
``xactor.export``, ``xactor.training``, ``xactor.bench``, ``xactor.cli``, ``xactor.web_client``.
"""

__version__ = "0.1.0"
