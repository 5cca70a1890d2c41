# bash extension: PIPESTATUS and pipefail.
true | sh -c 'exit 3' | true
echo "${PIPESTATUS[@]}"
sh -c 'exit 2' | true; echo "without pipefail: $?"
set -o pipefail
sh -c 'exit 2' | true; echo "with pipefail: $?"
sh -c 'exit 2' | sh -c 'exit 5' | true; echo "last failure: $?"
true | true; echo "all good: $?"
set +o pipefail
false | true; echo "pipefail off again: $?"
