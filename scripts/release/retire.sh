#!/usr/bin/env bash
# retire: the step is engine/retire.ts. This file keeps the command text every
# stack's state records, `bash scripts/release/retire.sh`, so moving the step
# into the engine changes no resource.
source "$(dirname "$0")/engine.sh" retire
