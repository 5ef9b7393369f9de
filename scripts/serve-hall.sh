#!/usr/bin/env bash
# A lecture hall: N Streamlit workers of the app behind HAProxy (sticky sessions), one URL.
# Usage: ./scripts/serve-hall.sh [N]      (default 2 workers; README, "Lecture hall")
# Environment: HALL_PORT (default 8501), HALL_BIND (default 0.0.0.0), VAE_EXPLORER_MODELS (the
# model library every worker shares; default ./models), VAE_EXPLORER_MAX_JOBS (training jobs
# per worker). Ctrl-C stops the proxy and every worker with its training processes.
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
[ -x "$python" ] || python=python3
exec "$python" -m deploy.hall "$@"
