#!/usr/bin/env bash
# verify: the step is engine/verify.ts. This file keeps the command text every
# stack's state records, `bash scripts/release/verify.sh`, so moving the step
# into the engine changes no resource.
source "$(dirname "$0")/engine.sh" verify
