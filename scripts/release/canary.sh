#!/usr/bin/env bash
# canary: the step is engine/canary.ts (the weighted steps before the re-point).
source "$(dirname "$0")/engine.sh" canary
