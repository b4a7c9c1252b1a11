"""The queue benchmark (``make bench-queue``): Darkroom against its peers on one private Redis.

Modules that run inside the peers' interpreters (``recorder``, ``systems/*``) import only the
standard library and their own queue library.
"""
