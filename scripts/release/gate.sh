#!/usr/bin/env bash
# gate: the step is engine/gate.ts. This file keeps the command text every
# stack's state records, `bash scripts/release/gate.sh`, so moving the step
# into the engine changes no resource.
source "$(dirname "$0")/engine.sh" gate
