#!/usr/bin/env bash
# The guide's step 8 (cleanup), verbatim, with the two things it needs on AWS as well: lambda-sg
# and rds-sg reference each other, so neither can be deleted until those rules are revoked
# (DependencyViolation), and the DB subnet group can go only once the instance has (as the
# guide's own comment says: `aws rds wait db-instance-deleted` goes in before it).
#
# It tears down whatever of the exercise exists, in that (AWS's dependency) order, and can be
# run again: an answer that the thing is already gone (a rule revoked by hand, a second run)
# counts as done, and so does an id the walkthrough never got to (it stopped early). Then it
# removes the work folder ($WORK, ./lambda-vpc-rds-work).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/env.sh"
mkdir -p "$WORK" && cd "$WORK"
WORK=$PWD
if [ -f ids.sh ]; then . ./ids.sh; fi
for id in VPC_ID IGW_ID PRIVATE_SUBNET_1 PRIVATE_SUBNET_2 LAMBDA_SG RDS_SG; do
  declare "$id=${!id:-none}"  # never created: AWS answers "malformed id", i.e. nothing to delete
done

GONE='\((Invalid[A-Za-z]*(ID|Id)\.(NotFound|Malformed)|InvalidPermission\.NotFound|Gateway\.NotAttached|ResourceNotFoundException|DBInstanceNotFound|DBSubnetGroupNotFoundFault|NoSuchEntity)\)'
aws() {  # the real aws; an error saying there is nothing to delete is success
  local status=0
  command aws "$@" 2>.aws-error || status=$?
  if [ "$status" -ne 0 ] && grep -qE "$GONE" .aws-error; then
    echo "already gone: aws $1 $2 ... ($(grep -oE "$GONE" .aws-error | tr -d '()'))"
    status=0
  elif [ "$status" -ne 0 ]; then
    cat .aws-error >&2
  fi
  rm -f .aws-error
  return "$status"
}

aws ec2 revoke-security-group-egress --group-id $LAMBDA_SG --protocol tcp --port 3306 --source-group $RDS_SG
aws ec2 revoke-security-group-ingress --group-id $RDS_SG --protocol tcp --port 3306 --source-group $LAMBDA_SG

. <(sed '/^# Delete DB subnet group/i aws rds wait db-instance-deleted --db-instance-identifier my-test-db\n' \
      "$HERE/steps/8-cleanup.sh")

cd .. && rm -rf "$WORK"
