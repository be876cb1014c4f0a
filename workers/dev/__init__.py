"""Development only: the ``parcours dev`` supervisor, the embedded Temporal and PostgreSQL servers, the demo
households and the MonJob62 and France Travail simulators."""
