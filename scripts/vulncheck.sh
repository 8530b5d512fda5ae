#!/usr/bin/env bash
# govulncheck against Go's vulnerability database. vuln.go.dev is not
# reachable from our CI machines, so the database is built from a pinned
# snapshot of golang.org/x/vulndb, fetched through the Go module proxy like
# any dependency, and indexed with its own indexdb tool into a git-ignored
# folder. Bump VULNDB to scan against newer reports.
set -euo pipefail
cd "$(dirname "$0")/.."
VULNDB=${VULNDB:-v0.0.0-20261105234957-e22db6528018}
GOVULNCHECK=${GOVULNCHECK:-v1.9.0}
DB=$PWD/third_party/vulndb/$VULNDB
if [ ! -f "$DB/index/db.json" ]; then
  src=$(go mod download -json "golang.org/x/vulndb@$VULNDB" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  rm -rf "$DB" && mkdir -p "$(dirname "$DB")"
  # Run the tool outside this module so its dependencies stay out of go.mod.
  (cd "$(mktemp -d)" && go mod init vulndbtool >/dev/null 2>&1 &&
    go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB" -vulns "$src/data/osv" -out "$DB")
fi
echo "govulncheck $GOVULNCHECK, database golang.org/x/vulndb@$VULNDB"
go run "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK" -db "file://$DB" ./...
