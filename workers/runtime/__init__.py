"""What every process runs on: settings, keys and the encrypting data converter, the worker and its registry,
the workflow sandbox, logging, the PostgreSQL pool and the numbered SQL migrations."""
