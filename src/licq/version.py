"""The licq release: written into every file's header and reported by ``licq --version``."""

__version__ = "0.4.4"
