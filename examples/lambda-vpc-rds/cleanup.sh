#!/usr/bin/env bash
# The guide's step 8 (cleanup), with the two things it needs on AWS as well: lambda-sg and
# rds-sg reference each other, so neither can be deleted until those rules are revoked
# (DependencyViolation), and the DB subnet group can go only once the instance has (as the
# guide's own comment says: `aws rds wait db-instance-deleted` goes in before it).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/env.sh"
cd "$WORK"
. ./ids.sh

aws ec2 revoke-security-group-egress --group-id $LAMBDA_SG --protocol tcp --port 3306 --source-group $RDS_SG
aws ec2 revoke-security-group-ingress --group-id $RDS_SG --protocol tcp --port 3306 --source-group $LAMBDA_SG

. <(sed '/^# Delete DB subnet group/i aws rds wait db-instance-deleted --db-instance-identifier my-test-db\n' \
      "$HERE/steps/8-cleanup.sh")
