"""The guide's exercise, steps 1-2 and the EC2 cleanup, verbatim through the real `aws` CLI."""

from __future__ import annotations

import subprocess

from tests.conftest import guide_step


def run_bash(server, script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], env=server.env(), capture_output=True,
                          text=True, timeout=300, check=False)


def test_steps_1_and_2_then_cleanup(server, ec2):
    steps = guide_step(1) + guide_step(2)
    dump = 'echo "VARS $VPC_ID $IGW_ID $PRIVATE_SUBNET_1 $PRIVATE_SUBNET_2 $LAMBDA_SG $RDS_SG"'
    out = run_bash(server, "set -e\n" + steps + dump)
    assert out.returncode == 0, out.stderr
    assert "Security group rules configured" in out.stdout
    vpc, igw, sub1, sub2, lambda_sg, rds_sg = out.stdout.split("VARS ")[1].split()

    [v] = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]
    assert v["CidrBlock"] == "10.0.0.0/16"
    hostnames = ec2.describe_vpc_attribute(VpcId=vpc, Attribute="enableDnsHostnames")
    assert hostnames["EnableDnsHostnames"]["Value"] is True
    [g] = ec2.describe_internet_gateways(InternetGatewayIds=[igw])["InternetGateways"]
    assert g["Attachments"] == [{"State": "available", "VpcId": vpc}]
    subnets = {s["SubnetId"]: s for s in ec2.describe_subnets(SubnetIds=[sub1, sub2])["Subnets"]}
    assert subnets[sub1]["AvailabilityZone"] == "us-east-1a"
    assert subnets[sub2]["CidrBlock"] == "10.0.20.0/24"
    groups = {g["GroupId"]: g for g in ec2.describe_security_groups(
        GroupIds=[lambda_sg, rds_sg])["SecurityGroups"]}
    egress = groups[lambda_sg]["IpPermissionsEgress"]
    assert any(p.get("FromPort") == 3306 and p["UserIdGroupPairs"][0]["GroupId"] == rds_sg
               for p in egress)
    [ingress] = groups[rds_sg]["IpPermissions"]
    assert (ingress["IpProtocol"], ingress["FromPort"], ingress["ToPort"]) == ("tcp", 3306, 3306)
    assert ingress["UserIdGroupPairs"][0]["GroupId"] == lambda_sg

    env = (f"VPC_ID={vpc} IGW_ID={igw} PRIVATE_SUBNET_1={sub1} PRIVATE_SUBNET_2={sub2} "
           f"LAMBDA_SG={lambda_sg} RDS_SG={rds_sg}\n")
    cleanup = guide_step(8, "# Delete security groups", "# Delete IAM role")
    out = run_bash(server, env + cleanup)
    # As on AWS, the guide's cleanup cannot delete two groups whose rules reference each
    # other, so the groups and the VPC stay; everything else goes.
    assert out.stderr.count("DependencyViolation") == 3, out.stderr
    assert f"resource {lambda_sg} has a dependent object" in out.stderr
    assert f"The vpc '{vpc}' has dependencies and cannot be deleted." in out.stderr
    assert ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"] == []

    fix = (f"aws ec2 revoke-security-group-egress --group-id {lambda_sg} --ip-permissions "
           f"IpProtocol=tcp,FromPort=3306,ToPort=3306,UserIdGroupPairs=[{{GroupId={rds_sg}}}]\n"
           f"aws ec2 revoke-security-group-ingress --group-id {rds_sg} --protocol tcp "
           f"--port 3306 --source-group {lambda_sg}\n")
    out = run_bash(server, "set -e\n" + env + fix + cleanup.replace(
        "aws ec2 detach-internet-gateway", "true ||").replace(
        "aws ec2 delete-internet-gateway", "true ||").replace(
        "aws ec2 delete-subnet", "true ||"))
    assert out.returncode == 0, out.stderr
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Vpcs"] == []
