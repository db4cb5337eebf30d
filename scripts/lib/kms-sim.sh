# shellcheck shell=bash disable=SC2034
# Sourced by the scripts that run kms-sim (local-appliance.sh, test-runbooks.sh,
# kms-policy/test.sh): start it on a free port as one principal, stop it.
#
#   kms_sim_start DIR PRINCIPAL_ARN ROOT_PEM   # state in DIR/kms, output in DIR/kms-sim.{out,log};
#                                              # sets KMS_SIM_PID and KMS_SIM_ADDR (HOST:PORT)
#   kms_sim_stop
#
# Uses $BIN (the directory of the built binaries), $ACCOUNT (default 111122223333) and the
# credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. kms-sim evaluates key policies
# for one principal per process; restarting it on the same DIR keeps the keys, so a script
# switches between the key administrator and the parent's role by restarting.

KMS_SIM_PID=
KMS_SIM_ADDR=

kms_sim_stop() {
  if [[ -n "$KMS_SIM_PID" ]]; then
    kill "$KMS_SIM_PID" 2>/dev/null || true
    wait "$KMS_SIM_PID" 2>/dev/null || true
    KMS_SIM_PID=
  fi
}

kms_sim_start() {
  local dir=$1 principal=$2 root=$3
  kms_sim_stop
  : > "$dir/kms-sim.out"
  "$BIN/kms-sim" --listen 127.0.0.1:0 --state-dir "$dir/kms" --account-id "${ACCOUNT:-111122223333}" \
    --access-key-id "$AWS_ACCESS_KEY_ID" --secret-access-key "$AWS_SECRET_ACCESS_KEY" \
    --principal-arn "$principal" --attestation-root "$root" \
    > "$dir/kms-sim.out" 2>>"$dir/kms-sim.log" &
  KMS_SIM_PID=$!
  for _ in $(seq 100); do [[ -s "$dir/kms-sim.out" ]] && break; sleep 0.1; done
  KMS_SIM_ADDR=$(head -1 "$dir/kms-sim.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["address"])' 2>/dev/null) \
    || { echo "kms-sim did not start: $(tail -5 "$dir/kms-sim.log" 2>/dev/null)" >&2; return 1; }
}
