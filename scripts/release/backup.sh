#!/usr/bin/env bash
# backup: the step is engine/backup.ts. This file keeps the command text every
# stack's state records, `bash scripts/release/backup.sh`, so moving the step
# into the engine changes no resource.
source "$(dirname "$0")/engine.sh" backup
