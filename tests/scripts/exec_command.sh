# exec CMD replaces the shell: nothing after it runs; its status is the script's.
echo before
exec sh -c 'echo "replaced, args: $*"; exit 3' sh a b
echo "never"
