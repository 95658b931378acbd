#!/usr/bin/env bash
# Runs the Waymark demo: starts a private PostgreSQL in .waymark/postgres (loopback only), applies
# the migrations, appends and reads customer-journey events, runs the projections and the process
# manager beside them (stalls, SLA crossings, escalations of the simulated journeys), then stops the server.
# Pass --database-url URL (or set WAYMARK_DATABASE_URL, or write database.url in ./waymark.yaml;
# see waymark.example.yaml) to use an existing database instead.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
swift build --product waymark
exec .build/debug/waymark demo "$@"
