#!/bin/sh
# Creates the read-model database and its owner on the first start of the PostgreSQL container.
set -e
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
CREATE USER parcours WITH PASSWORD '${PARCOURS_DB_PASSWORD}';
CREATE DATABASE parcours OWNER parcours;
SQL
