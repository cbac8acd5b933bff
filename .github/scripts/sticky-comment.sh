#!/usr/bin/env bash
# Post FILE as a pull request's one comment that starts with MARKER: edit the Actions bot's
# latest such comment, or create one (unless CREATE is "no": then only an existing one is
# kept up to date). Only the bot's comments are candidates, never a human's quote of one.
#
#   .github/scripts/sticky-comment.sh FILE MARKER [CREATE]
#   env: GH_TOKEN, GITHUB_REPOSITORY, PR_NUMBER
set -euo pipefail

if [ "$#" -lt 2 ] || [ "$#" -gt 3 ]; then
  echo "usage: sticky-comment.sh FILE MARKER [yes|no]" >&2
  exit 2
fi
file=$1
marker=$2
create=${3:-yes}
: "${GITHUB_REPOSITORY:?}" "${PR_NUMBER:?}"
# The marker is pasted into a jq string: an HTML comment of plain words only.
if ! [[ $marker =~ ^'<!-- '[a-z0-9-]+' -->'$ ]]; then
  echo "sticky-comment.sh: marker must look like <!-- some-name -->, got: $marker" >&2
  exit 2
fi
if [ ! -f "$file" ]; then
  echo "sticky-comment.sh: $file was not written; nothing to post"
  exit 0
fi

comment_id=$(gh api --paginate "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" \
  --jq ".[] | select(.user.login == \"github-actions[bot]\" and (.body | startswith(\"$marker\"))) | .id" \
  | tail -n 1)
payload=$(mktemp)
trap 'rm -f "$payload"' EXIT
jq -n --rawfile body "$file" '{body: $body}' > "$payload"
if [ -n "$comment_id" ]; then
  gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$comment_id" --input "$payload" > /dev/null
elif [ "$create" != "no" ]; then
  gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" --input "$payload" > /dev/null
fi
