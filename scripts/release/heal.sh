#!/usr/bin/env bash
# heal: the step is engine/heal.ts. This file keeps the command text every
# stack's state records, `bash scripts/release/heal.sh`, so moving the step
# into the engine changes no resource.
source "$(dirname "$0")/engine.sh" heal
