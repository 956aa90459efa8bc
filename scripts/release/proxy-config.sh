#!/usr/bin/env bash
# proxy-config: the step is engine/proxy-config.ts. This file keeps the command text every
# stack's state records, `bash scripts/release/proxy-config.sh`, so moving the step
# into the engine changes no resource.
source "$(dirname "$0")/engine.sh" proxy-config
