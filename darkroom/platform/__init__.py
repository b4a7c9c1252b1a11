"""The composition root: builds the queue, stores, registry, engine and a worker's resources from
:class:`~darkroom.config.Settings`. Every process of a platform, on any host, starts here;
what runs only on one machine (the private redis-server, ``darkroom up``) is :mod:`darkroom.local`.
"""
