#!/usr/bin/env bash
# repoint: the step is engine/repoint.ts. This file keeps the command text every
# stack's state records, `bash scripts/release/repoint.sh`, so moving the step
# into the engine changes no resource.
source "$(dirname "$0")/engine.sh" repoint
