"""smppcore: an SMPP 3.4 gateway engine on trio.

``__version__`` is the one place the version is written: the package metadata
(``pyproject.toml`` reads it), ``smppcore --version``, the ``smppcore_build_info`` metric and
the daemon's ``starting`` log line all report it.
"""

__version__ = "0.1.0"
