#!/usr/bin/env bash
# Checks the deploy files as far as this machine can: the Dockerfile with a linter (no Docker
# engine here to build it), and the Terraform with `terraform fmt -check` (`terraform validate`
# needs the Google provider, which cannot be downloaded here).
set -euo pipefail
cd "$(dirname "$0")/.."
npx dockerfile-utils lint deploy/Dockerfile
echo "deploy/Dockerfile: lint ok"
if command -v terraform > /dev/null 2>&1; then
  terraform fmt -check -recursive deploy/terraform 2> /dev/null
  echo "deploy/terraform: terraform fmt ok"
else
  echo "deploy/terraform: terraform is not installed here; formatting not checked" >&2
fi
