#!/usr/bin/env bash
# maintenance: the step is engine/maintenance.ts. This file keeps the command text every
# stack's state records, `bash scripts/release/maintenance.sh`, so moving the step
# into the engine changes no resource.
source "$(dirname "$0")/engine.sh" maintenance
