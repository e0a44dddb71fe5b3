#!/bin/sh
# First start of the database only: the role the services connect as. It may create databases
# (each service creates its own, cdt_roster, cdt_assist, cdt_reporting, cdt_auth) but is not a
# superuser. The password comes from CDT_DB_PASSWORD in .env.
set -eu
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
     --set=cdt_password="$CDT_DB_PASSWORD" <<'SQL'
CREATE ROLE cdt LOGIN CREATEDB PASSWORD :'cdt_password';
SQL
