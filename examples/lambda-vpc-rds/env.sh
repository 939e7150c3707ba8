# The environment both scripts run in: vpclocal's endpoint and test credentials (unless set),
# the guide's region, the aws CLI and pip of the project's venv when there is none on the PATH,
# and the AWS CLI config with vpclocal's plugin, importable by whichever `aws` runs.
VENV=$HERE/../../.venv/bin
if [ -x "$VENV/aws" ]; then export PATH="$PATH:$VENV"; fi
export PYTHONPATH="$HERE/../../src${PYTHONPATH:+:$PYTHONPATH}"
export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://localhost:4566}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_CONFIG_FILE=${AWS_CONFIG_FILE:-$HERE/aws-config}
# the work folder: ./lambda-vpc-rds-work, or the current directory when it is that folder
if [ -z "${WORK:-}" ] && [ "$(basename "$PWD")" = lambda-vpc-rds-work ]; then WORK=$PWD; fi
WORK=${WORK:-$PWD/lambda-vpc-rds-work}
