# The route marker's reads and writes, for the release steps (lib.sh) and the
# operator commands (ops/). The protocol itself is route-marker.env.
# shellcheck source=route-marker.env
source "$(dirname "${BASH_SOURCE[0]}")/route-marker.env"

# route_read PROXY: the colour PROXY's live listener routes to.
route_read() {
  if docker exec "$1" test -f "$STATE_DIR/$ROUTE_MARKER"; then echo green; else echo blue; fi
}

# route_write PROXY COLOUR: point PROXY's live listener at COLOUR, atomically:
# a rename or an unlink, read by nginx per request, so no reload.
route_write() {
  case "$2" in
    green) docker exec "$1" sh -c 'mkdir -p "$1" && : > "$1/.$2.tmp" && mv -f "$1/.$2.tmp" "$1/$2"' sh "$STATE_DIR" "$ROUTE_MARKER" ;;
    blue) docker exec "$1" sh -c 'mkdir -p "$1" && rm -f "$1/$2"' sh "$STATE_DIR" "$ROUTE_MARKER" ;;
    *) echo "unknown colour '$2' (allowed: blue, green)" >&2; return 2 ;;
  esac
}
