# The route marker's read, for the bash operator commands (ops/); the
# release engine's reads and writes are in engine/docker.ts. The protocol
# itself is route-marker.env.
# shellcheck source=route-marker.env
source "$(dirname "${BASH_SOURCE[0]}")/route-marker.env"

# route_read PROXY: the colour PROXY's live listener routes to.
route_read() {
  if docker exec "$1" test -f "$STATE_DIR/$ROUTE_MARKER"; then echo green; else echo blue; fi
}
