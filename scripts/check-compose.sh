#!/usr/bin/env bash
# Validates docker-compose.yml (and the files it mounts exist). No container engine is
# needed: `docker compose config` only parses and resolves. Uses the compose plugin when the
# docker CLI has it, else Debian's docker-compose (installed with apt when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  if ! command -v docker-compose >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
    else
      echo "neither 'docker compose' nor docker-compose is installed"; exit 1
    fi
  fi
  compose=(docker-compose)
fi
"${compose[@]}" -f docker-compose.yml config --quiet
services=$("${compose[@]}" -f docker-compose.yml config --services | sort | tr '\n' ' ')
echo "docker-compose.yml is valid ($("${compose[@]}" version --short 2>/dev/null || true)): services $services"
for mounted in deploy/nginx.conf deploy/seaweedfs-s3.json Dockerfile; do
  [ -f "$mounted" ] || { echo "missing $mounted"; exit 1; }
done
python3 -c 'import json,sys; json.load(open("deploy/seaweedfs-s3.json"))'
