#!/usr/bin/env bash
# Writes the secret files docker-compose.yml reads, once, into deploy/secrets/
# (git-ignored). Compose bind-mounts file secrets with their host mode, and
# the stages and Neo4j run as users the host does not know, so the files are
# 0644 inside a 0700 directory: readable in their containers, not by other
# users of the host.
#   neo4j_password   the graph writer's password (a random one unless
#                    NEO4J_PASSWORD is set)
#   neo4j_auth       the same, as neo4j/<password>, for the Neo4j image
#   aws_credentials  empty unless it exists (fill it for --profile cloudmap)
#   github_token     empty unless it exists (fill it for --profile github)
# Existing files are kept; remove them to start over. Neo4j takes the
# password only when its data volume is first created.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
mkdir -p "$dir"
chmod 700 "$dir"
umask 022
if [ ! -s "$dir/neo4j_password" ]; then
  password="${NEO4J_PASSWORD:-$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')}"
  [ "${#password}" -ge 8 ] || { echo "NEO4J_PASSWORD: Neo4j wants at least 8 characters" >&2; exit 1; }
  printf '%s' "$password" >"$dir/neo4j_password"
  printf 'neo4j/%s' "$password" >"$dir/neo4j_auth"
  echo "wrote $dir/neo4j_password and $dir/neo4j_auth"
elif [ ! -s "$dir/neo4j_auth" ]; then
  printf 'neo4j/%s' "$(cat "$dir/neo4j_password")" >"$dir/neo4j_auth"
  echo "wrote $dir/neo4j_auth from neo4j_password"
fi
for f in aws_credentials github_token; do
  [ -e "$dir/$f" ] || { : >"$dir/$f"; echo "created empty $dir/$f"; }
done
