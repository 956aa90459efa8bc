#!/usr/bin/env bash
# processes: the step is engine/processes.ts (the colour going live's workers
# and schedulers start and are gated before the re-point; the old colour's are
# stopped after the promotion). This file is the command text its resources record.
source "$(dirname "$0")/engine.sh" processes
