#!/usr/bin/env bash
# tls-config: the step is engine/tls-config.ts. This file keeps the command text every
# stack's state records, `bash scripts/release/tls-config.sh`, so moving the step
# into the engine changes no resource.
source "$(dirname "$0")/engine.sh" tls-config
