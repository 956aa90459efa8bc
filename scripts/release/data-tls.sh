#!/usr/bin/env bash
# data-tls: the step is engine/data-tls.ts (the published Postgres and Redis of a
# stack of several hosts over TLS, with a certificate made on the data host).
source "$(dirname "$0")/engine.sh" data-tls
