#!/usr/bin/env bash
# Builds the serving base image (serving/Dockerfile) in the cloud, with the stack's own CodeBuild project: no Docker on
# this machine. Prints the ServingImage parameter to deploy with. Usage: serving/build/build-base-image.sh <stack>
# (make serving-image STACK=<stack>). Needs the AWS CLI, zip and credentials for the stack's account.
set -euo pipefail
stack="${1:?usage: $0 <stack name>}"
cd "$(dirname "$0")/.."
resource() {
    aws cloudformation describe-stack-resource --stack-name "$stack" --logical-resource-id "$1" \
        --query StackResourceDetail.PhysicalResourceId --output text
}
bucket="$(resource ArtifactBucket)"
project="$(resource ServingBuildProject)"
repository="$(resource ServingImageRepository)"
uri="$(aws ecr describe-repositories --repository-names "$repository" --query 'repositories[0].repositoryUri' --output text)"
# The tag names the contents, so an unchanged serving/ is not built twice (the buildspec skips a tag it has).
files="$(find Dockerfile requirements.txt stratus_serving -type f ! -path '*__pycache__*' | sort)"
tag="base-$(echo "$files" | xargs sha256sum | sha256sum | cut -c1-16)"
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
echo "$files" | zip -q "$workdir/context.zip" -@
aws s3 cp --quiet "$workdir/context.zip" "s3://$bucket/serving-builds/$tag.zip"
build="$(aws codebuild start-build --project-name "$project" --source-type-override S3 \
    --source-location-override "$bucket/serving-builds/$tag.zip" \
    --environment-variables-override name=BUILD_KIND,value=base "name=IMAGE_TAG,value=$tag" \
    "name=REPOSITORY_URI,value=$uri" --query build.id --output text)"
echo "building $uri:$tag ($build)" >&2
while status="$(aws codebuild batch-get-builds --ids "$build" --query 'builds[0].buildStatus' --output text)" \
    && [ "$status" = IN_PROGRESS ]; do
    sleep 10
done
if [ "$status" != SUCCEEDED ]; then
    echo "the build ended $status: see the log group /aws/codebuild/$project" >&2
    exit 1
fi
echo "ServingImage=$uri:$tag"
