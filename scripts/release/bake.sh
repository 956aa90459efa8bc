#!/usr/bin/env bash
# bake: the step is engine/bake.ts. This file keeps the command text every
# stack's state records, `bash scripts/release/bake.sh`, so moving the step
# into the engine changes no resource.
source "$(dirname "$0")/engine.sh" bake
