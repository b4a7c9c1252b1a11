"""The social product: accounts, follows, posts, likes, comments, the home feed and the events that
connect them (docs/social.md). The HTTP routes are in :mod:`darkroom.web`; the gRPC service is
:mod:`darkroom.social.grpc_service`."""
