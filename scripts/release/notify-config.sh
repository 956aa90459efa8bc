#!/usr/bin/env bash
# notify-config: the step is engine/notify-config.ts. This file keeps the command text every
# stack's state records, `bash scripts/release/notify-config.sh`, so moving the step
# into the engine changes no resource.
source "$(dirname "$0")/engine.sh" notify-config
