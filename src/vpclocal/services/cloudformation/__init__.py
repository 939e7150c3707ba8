"""CloudFormation: stacks, change sets and exports, deployed onto the other providers."""
