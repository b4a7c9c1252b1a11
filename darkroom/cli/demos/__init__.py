"""The demos behind ``darkroom demo`` and ``darkroom queue demo``: each starts a private platform
on this machine (:mod:`darkroom.local`), pushes generated work through it and checks the outcome."""
