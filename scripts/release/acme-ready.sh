#!/usr/bin/env bash
# acme-ready: the step is engine/acme-ready.ts. This file keeps the command text every
# stack's state records, `bash scripts/release/acme-ready.sh`, so moving the step
# into the engine changes no resource.
source "$(dirname "$0")/engine.sh" acme-ready
