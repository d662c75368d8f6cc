#!/bin/sh
# One database and role per service (services never read each other's data), each role's
# password read from its secret file: no password is written in this repository.
set -eu
for service in $QORGAU_DATABASES; do
  password="$(cat "/run/secrets/${service}-db-password")"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" \
    -v name="$service" -v password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
SQL
done
# From the network, TLS only (the image's default also lets plain connections in).
sed -i 's/^host\(\s\+all\s\+all\s\+all\)/hostssl\1/' "$PGDATA/pg_hba.conf"
