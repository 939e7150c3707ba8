#!/usr/bin/env bash
# The AWS Lambda VPC guide's exercise (section 8, steps 1-7), verbatim, against vpclocal:
#
#   make up                                  # in another terminal: the server on :4566
#   examples/lambda-vpc-rds/walkthrough.sh   # then cleanup.sh (step 8)
#
# steps/ holds each step's commands exactly as the guide prints them, and lambda_function.py
# is the guide's. Only the environment differs from AWS: the endpoint, test credentials, and
# an AWS CLI config (aws-config) that loads vpclocal's plugin: AWS CLI v1 sends `aws rds` in
# us-east-1 to https://rds.amazonaws.com whatever AWS_ENDPOINT_URL says. Files go to
# ./lambda-vpc-rds-work/ ($WORK), the ids to $WORK/ids.sh for cleanup.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/env.sh"
mkdir -p "$WORK" && cd "$WORK"
WORK=$PWD
cp "$HERE/lambda_function.py" .  # step 4: "Create lambda_function.py"

ids() {  # the ids made so far, for cleanup.sh: written however the walkthrough ends
  cat > "$WORK/ids.sh" <<IDS
VPC_ID=${VPC_ID:-} IGW_ID=${IGW_ID:-} PRIVATE_SUBNET_1=${PRIVATE_SUBNET_1:-} PRIVATE_SUBNET_2=${PRIVATE_SUBNET_2:-}
LAMBDA_SG=${LAMBDA_SG:-} RDS_SG=${RDS_SG:-}
IDS
}
trap ids EXIT

for step in "$HERE"/steps/[1-7]-*.sh; do
  echo "# ---- $(basename "$step" .sh)"
  . "$step"
done
