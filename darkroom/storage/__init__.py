"""Where the platform keeps things: media blobs (local directory | S3) and metadata (SQLite | PostgreSQL)."""
