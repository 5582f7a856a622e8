#!/usr/bin/env bash
# Creates .venv-integrations: the agent frameworks xactor plugs into (pipecat, LiveKit Agents) with
# the thin clients in integrations/. A separate environment because their releases need numpy 2
# and protobuf 5+, while the server's MediaPipe pins numpy < 2 and protobuf < 5. The server is
# not installed here: the integration tests start it from .venv. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV_INTEGRATIONS:-.venv-integrations}
PYTHON=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -c integrations/constraints.txt -e "integrations[pipecat,livekit,test]"
"$VENV/bin/python" -m pip check
touch "$VENV/.installed"
