#!/usr/bin/env bash
# migrate: the step is engine/migrate.ts. This file keeps the command text every
# stack's state records, `bash scripts/release/migrate.sh`, so moving the step
# into the engine changes no resource.
source "$(dirname "$0")/engine.sh" migrate
