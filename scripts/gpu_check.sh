#!/usr/bin/env bash
# GPU readiness in one command: parity of the learned stages against the CPU (fp32, fp16), the
# batched warp renderer's throughput with CUDA graphs, TensorRT plans of both stages; one results
# table, gpu_check.md and gpu_check.json, in OUT_DIR. The logic is bench/gpu_check.py; this only
# picks the interpreter, prints the machine and runs it under a time limit (8 minutes in all).
#
#   scripts/gpu_check.sh [--cpu] [--quick|--full] [OUT_DIR]     (OUT_DIR defaults to $OUT)
#
# --cpu: the CPU backends even where CUDA is present (also chosen when torch sees no GPU); on the
# CPU the run is quick (small settings, under 3 minutes on 2 cores) unless --full.
# Environment: PYTHON (the interpreter; default: the first of .venv/bin/python and python3 whose
# torch sees CUDA, else the first with torch), GPU_CHECK_TIMEOUT (seconds, default 450).
# Where the interpreter is not .venv's but .venv holds packages for the same Python version, those
# are appended to sys.path (after the interpreter's own, so its CUDA torch wins): a bare GPU host
# with a system torch can borrow the project's other dependencies.
# Exit status: 0 all parity rows pass, 1 a parity row or a section failed, 124 the time limit.
set -uo pipefail
cd "$(dirname "$0")/.."

cpu=0
mode=()
out=""
for arg in "$@"; do
  case "$arg" in
    --cpu) cpu=1 ;;
    --quick | --full) mode+=("$arg") ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "gpu_check: unknown option $arg" >&2; exit 2 ;;
    *) out="$arg" ;;
  esac
done
out=${out:-${OUT:-}}
if [ -z "$out" ]; then
  echo "usage: scripts/gpu_check.sh [--cpu] [--quick|--full] OUT_DIR  (or set OUT)" >&2
  exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The interpreter: one whose torch sees CUDA if any does (unless --cpu), else one with torch.
candidates=()
[ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
[ -x .venv/bin/python ] && candidates+=(.venv/bin/python)
command -v python3 >/dev/null && candidates+=(python3)
py=""
if [ "$cpu" = 0 ]; then
  for c in "${candidates[@]}"; do
    if "$c" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
      py=$c
      break
    fi
  done
fi
if [ -z "$py" ]; then
  for c in "${candidates[@]}"; do
    if "$c" -c "import torch" 2>/dev/null; then
      py=$c
      break
    fi
  done
fi
if [ -z "$py" ]; then
  echo "gpu_check: no Python with torch found (tried: ${candidates[*]:-none}); run scripts/bootstrap.sh" >&2
  exit 2
fi
extra=""
if [ "$py" != .venv/bin/python ] && [ -d .venv/lib ]; then
  version=$("$py" -c 'import sys; print(f"python{sys.version_info[0]}.{sys.version_info[1]}")')
  [ -d ".venv/lib/$version/site-packages" ] && extra="$PWD/.venv/lib/$version/site-packages"
fi

echo "== gpu_check: $(date -u +%FT%TZ) on $(hostname), results into $out"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi
else
  echo "nvidia-smi: not found"
fi
"$py" - <<'EOF'
import platform, torch
print(f"python {platform.python_version()} ({platform.machine()}), torch {torch.__version__}, "
      f"CUDA {torch.version.cuda}, cuda available: {torch.cuda.is_available()}")
if torch.cuda.is_available():
    print(f"device 0: {torch.cuda.get_device_name(0)}, capability {torch.cuda.get_device_capability(0)}, "
          f"cuDNN {torch.backends.cudnn.version()}")
EOF
echo "interpreter: $py${extra:+ (with $extra appended to sys.path)}"

args=(--out "$out")
[ "$cpu" = 1 ] && args+=(--cpu)
args+=("${mode[@]}")
limit=${GPU_CHECK_TIMEOUT:-450}
log=$(mktemp)
start=$SECONDS
GPU_CHECK_EXTRA_SITE="$extra" timeout --kill-after=10 "$limit" "$py" -c '
import os, runpy, sys
extra = os.environ.get("GPU_CHECK_EXTRA_SITE")
if extra:
    sys.path.append(extra)
sys.argv = ["xactor.bench.gpu_check", *sys.argv[1:]]
runpy.run_module("xactor.bench.gpu_check", run_name="__main__", alter_sys=True)
' "${args[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
took=$((SECONDS - start))

if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
  rc=124
  note="**Stopped by the time limit ($limit s) after $took s**: the sections still marked running or not reached did not finish."
  if [ -f "$out/gpu_check.md" ]; then
    printf '\n%s\n' "$note" >>"$out/gpu_check.md"
  else
    printf '# xactor GPU check\n\n%s\n' "$note" >"$out/gpu_check.md"
  fi
elif [ ! -f "$out/gpu_check.md" ]; then  # it died before writing anything: say why in the table
  {
    printf '# xactor GPU check\n\n**The check did not start (exit status %s after %s s).** Its last output:\n\n```\n' "$rc" "$took"
    tail -n 30 "$log"
    printf '```\n'
  } >"$out/gpu_check.md"
  [ "$rc" = 0 ] && rc=1
fi
rm -f "$log"
echo "== gpu_check: exit status $rc after $took s; $out/gpu_check.md, $out/gpu_check.json"
exit "$rc"
