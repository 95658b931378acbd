#!/usr/bin/env bash
# Runs Waymark as its users see it: starts a private PostgreSQL in .waymark/postgres (loopback
# only), applies the migrations, and runs the API with the console, the projections, the process
# manager, the rules engine and a delivery worker (to the log and to a webhook receiver of its own),
# fed by the simulator (a month of history, then new journeys every few seconds). It prints the
# console's URL, an operator, an analyst and a service key, and curl examples, and runs until
# Ctrl-C (or --for 10m). `--script` plays the scripted walk-through instead and exits.
# Pass --database-url URL (or set WAYMARK_DATABASE_URL, or write database.url in ./waymark.yaml;
# see waymark.example.yaml) to use an existing database instead.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
swift build --product waymark
exec .build/debug/waymark demo "$@"
